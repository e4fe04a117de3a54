import Foundation

/// `connections`: registers C users, then opens C authenticated idle connections (logins per
/// second), holds them and reports the relay's resident memory per connection.
public struct ConnectionsScenario: Sendable {
    public struct Result: Codable, Sendable, Equatable {
        public var scenario = "connections"
        public var connections: Int
        public var held: Int
        public var registrationsPerSecond: Double
        public var loginsPerSecond: Double
        /// Before the users were registered.
        public var relayRssStartBytes: Int?
        /// After they were registered, before the logins.
        public var relayRssBeforeBytes: Int?
        public var relayRssHeldBytes: Int?
        public var relayBytesPerConnection: Double?
        public var sourceAddresses: [String]
        public var cost: CostReport
    }

    public var options: LoadOptions
    public var sourceAddresses: [String]
    public var hold: Duration

    public init(options: LoadOptions, sourceAddresses: [String], hold: Duration = .seconds(3)) {
        self.options = options
        self.sourceAddresses = sourceAddresses
        self.hold = hold
    }

    public enum Failure: Error, CustomStringConvertible {
        case fileLimit(wanted: Int, limit: Int)
        public var description: String {
            switch self {
            case .fileLimit(let wanted, let limit):
                "\(wanted) connections need about \(wanted + 100) open files in this process (and in the relay), but the limit is \(limit); "
                    + "raise it (ulimit -Hn, as root or with CAP_SYS_RESOURCE) or ask for fewer --clients"
            }
        }
    }

    public func run() async throws -> Result {
        let limit = ProcessSample.raiseFileLimit()
        guard options.clients + 100 <= limit else { throw Failure.fileLimit(wanted: options.clients, limit: limit) }
        let run = try await LoadRun.start(options)
        var peers = run.peers(options.clients)
        do {
            let start = run.relay.sample()?.residentBytes
            // Each registration's connection closes as soon as it is in: had they all stayed open,
            // the heap would keep the memory they used, the held connections would reuse it, and
            // the growth measured below would be a fraction of what a connection costs.
            let registrations = try await connectAll(peers, url: run.relay.url, as: .register, sourceAddresses: sourceAddresses,
                                                     concurrency: 64, closeEach: true, group: run.group)
            try await Task.sleep(for: .seconds(1))
            let before = run.relay.sample()?.residentBytes
            peers = peers.map { BenchPeer(reconnecting: $0) }
            let meter = CostMeter(relay: run.relay)
            let logins = try await connectAll(peers, url: run.relay.url, as: .login, sourceAddresses: sourceAddresses,
                                              concurrency: 256, group: run.group)
            let cost = meter.end(messages: peers.count)
            try await Task.sleep(for: hold)
            let held = run.relay.sample()?.residentBytes
            let open = peers.filter { !$0.closed }.count
            await run.finish(peers)
            return Result(connections: peers.count, held: open, registrationsPerSecond: registrations, loginsPerSecond: logins,
                          relayRssStartBytes: start, relayRssBeforeBytes: before, relayRssHeldBytes: held,
                          relayBytesPerConnection: before.flatMap { b in held.map { Double($0 - b) / Double(max(1, open)) } },
                          sourceAddresses: sourceAddresses, cost: cost)
        } catch {
            await run.finish(peers)
            throw error
        }
    }
}

extension ConnectionsScenario.Result {
    public var summary: String {
        let perConnection = relayBytesPerConnection.map { "\(format($0 / 1024)) KiB relay RSS per connection" } ?? "relay RSS unknown (no PID)"
        return """
            connections: \(held) of \(connections) authenticated idle connections held\(sourceAddresses.isEmpty ? "" : " from \(sourceAddresses.count) source addresses")
              registrations \(Int(registrationsPerSecond))/s, logins \(Int(loginsPerSecond))/s
              \(perConnection) (\((relayRssBeforeBytes ?? 0) / 1_048_576) → \((relayRssHeldBytes ?? 0) / 1_048_576) MiB; \((relayRssStartBytes ?? 0) / 1_048_576) MiB before registering)
              logins: \(cost.line)
            """
    }
}
