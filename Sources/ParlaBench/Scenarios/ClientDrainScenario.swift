import Foundation
import Logging
import ParlaClient

/// `client`: M end-to-end encrypted messages wait on the relay for one user; then a real
/// `ParlaClient` logs in and drains them (decrypt, commit to its local store, confirm).
/// Measures messages per second on the client side, from engine start to the last one stored.
public struct ClientDrainScenario: Sendable {
    public struct Result: Codable, Sendable, Equatable {
        public var scenario = "client"
        public var messages: Int
        public var size: Int
        public var queueSeconds: Double
        public var stored: Int
        public var drainSeconds: Double
        public var drainPerSecond: Double
        public var cost: CostReport
    }

    public var options: LoadOptions
    let logger: Logger

    public init(options: LoadOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    public func run() async throws -> Result {
        let relay = try await BenchRelay.start(server: options.server, relayPID: options.relayPID)
        defer { Task { await relay.stop() } }
        let prefix = runPrefix()
        let transport = WebSocketTransport(logger: logger)
        let root = NSTemporaryDirectory() + "/parla-bench-client-\(prefix)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let senderProfile = try await ParlaClient.register(name: "\(prefix)-s", server: relay.url, invite: nil, directory: root + "/s", transport: transport)
        let receiverProfile = try await ParlaClient.register(name: "\(prefix)-r", server: relay.url, invite: nil, directory: root + "/r", transport: transport)

        // Queue M messages on the relay for the receiver, sealed by a real sender engine.
        let sender = try ParlaClient(profile: senderProfile, transport: transport, logger: logger)
        let senderTask = Task { await sender.run() }
        let text = String(repeating: "x", count: max(1, options.size))
        let queueStarted = ContinuousClock.now
        for _ in 0..<options.messages { try await sender.send(text, to: receiverProfile.name) }
        let deadline = ContinuousClock.now + options.timeout
        while await sender.outboxCount() > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let queueSeconds = (ContinuousClock.now - queueStarted).seconds
        senderTask.cancel()
        await senderTask.value

        // Drain with a fresh engine, counting what it stores.
        let receiver = try ParlaClient(profile: receiverProfile, transport: transport, logger: logger)
        let meter = CostMeter(relay: relay)
        let started = ContinuousClock.now
        let receiverTask = Task { await receiver.run() }
        var stored = 0
        let counting = Task {
            var count = 0
            for await event in receiver.events {
                if case .messageAdded(let record) = event, record.from == senderProfile.name {
                    count += 1
                    if count == options.messages { break }
                }
            }
            return count
        }
        let finished = Task {
            try? await Task.sleep(for: options.timeout)
            counting.cancel()
        }
        stored = await counting.value
        finished.cancel()
        let drainSeconds = (ContinuousClock.now - started).seconds
        let cost = meter.end(messages: stored)
        receiverTask.cancel()
        await receiverTask.value
        return Result(messages: options.messages, size: options.size, queueSeconds: queueSeconds, stored: stored,
                      drainSeconds: drainSeconds, drainPerSecond: Double(stored) / drainSeconds, cost: cost)
    }
}

extension ClientDrainScenario.Result {
    public var summary: String {
        """
        client: \(messages) encrypted messages of \(size) bytes queued for one user (queued in \(format(queueSeconds)) s)
          a real ParlaClient drained \(stored) (decrypt, local commit, confirm) in \(format(drainSeconds)) s: \(Int(drainPerSecond)) msg/s
          \(cost.line)
        """
    }
}
