import Foundation

/// `offline`: receivers are offline while senders store `depth` messages each for them
/// (store rate: every send acknowledged, so durably committed); then the receivers log in
/// and drain their mailboxes (drain rate: every message delivered, counted by unique id).
public struct OfflineScenario: Sendable {
    public struct Result: Codable, Sendable, Equatable {
        public var scenario = "offline"
        public var clients: Int
        public var messages: Int
        public var size: Int
        /// Messages waiting per receiver.
        public var depth: Int
        public var stored: Int
        public var storeSeconds: Double
        public var storePerSecond: Double
        public var delivered: Int
        public var duplicates: Int
        public var drainSeconds: Double
        public var drainPerSecond: Double
        public var errors: Int
        public var firstError: String?
        public var storeCost: CostReport
        public var drainCost: CostReport
        /// Raw SQLite inserts and deletes of the same rows with the same durability, and the relay as a share of them.
        public var sqliteInsertPerSecond: Double?
        public var sqliteDeletePerSecond: Double?
        public var storeShareOfSQLite: Double?
        public var drainShareOfSQLite: Double?
    }

    public var options: LoadOptions

    public init(options: LoadOptions) {
        self.options = options
    }

    public func run() async throws -> Result {
        let run = try await LoadRun.start(options)
        let senders = run.peers(options.clients)
        let receivers = run.peers(options.clients, offset: options.clients)
        do {
            _ = try await connectAll(senders + receivers, url: run.relay.url, as: .register, group: run.group)
            for receiver in receivers { receiver.close() }
            try await Task.sleep(for: .milliseconds(300))
            let result = try await measure(run, senders, receivers)
            await run.finish(senders + receivers)
            return result
        } catch {
            await run.finish(senders + receivers)
            throw error
        }
    }

    private func measure(_ run: LoadRun, _ senders: [BenchPeer], _ receivers: [BenchPeer]) async throws -> Result {
        let depth = max(1, options.messages / options.clients)
        let total = depth * options.clients
        let totals = TrafficTotals()
        let sending = zip(senders, receivers).map { sender, receiver in
            PeerTraffic(peer: sender, totals: totals, recipient: receiver.name, body: run.body, window: options.window)
        }
        var meter = CostMeter(relay: run.relay)
        var started = ContinuousClock.now
        for item in sending { item.startWindowed(count: depth) }
        _ = await totals.wait(timeout: options.timeout) { totals.acked.load(ordering: .relaxed) >= total }
        let storeSeconds = (ContinuousClock.now - started).seconds
        let stored = totals.acked.load(ordering: .relaxed)
        let storeCost = meter.end(messages: stored)

        meter = CostMeter(relay: run.relay)
        started = ContinuousClock.now
        let fresh = receivers.map { BenchPeer(reconnecting: $0) }
        let receiving = fresh.map { PeerTraffic(peer: $0, totals: totals, recipient: nil, body: "", window: 0) }
        _ = try await connectAll(fresh, url: run.relay.url, as: .login, group: run.group)
        _ = await totals.wait(timeout: options.timeout) { totals.delivered.load(ordering: .relaxed) >= stored }
        let drainSeconds = (ContinuousClock.now - started).seconds
        let delivered = totals.delivered.load(ordering: .relaxed)
        let drainCost = meter.end(messages: delivered)
        for peer in fresh { peer.close() }
        // The traffic objects handle frames only while alive; an optimised build would free them after their last use.
        withExtendedLifetime((sending, receiving)) {}
        return Result(clients: options.clients, messages: total, size: options.size, depth: depth,
                      stored: stored, storeSeconds: storeSeconds, storePerSecond: Double(stored) / storeSeconds,
                      delivered: delivered, duplicates: totals.duplicates.load(ordering: .relaxed),
                      drainSeconds: drainSeconds, drainPerSecond: Double(delivered) / drainSeconds,
                      errors: totals.errors.load(ordering: .relaxed), firstError: totals.firstError.withLock { $0 },
                      storeCost: storeCost, drainCost: drainCost)
    }
}

extension OfflineScenario.Result {
    public var summary: String {
        """
        offline: \(clients) senders → \(clients) offline receivers, \(depth) messages each (\(messages) of \(size) bytes)
          store: \(stored) acknowledged in \(format(storeSeconds)) s: \(Int(storePerSecond)) msg/s; \(storeCost.line)
          drain: \(delivered) delivered (\(duplicates) duplicates) in \(format(drainSeconds)) s: \(Int(drainPerSecond)) msg/s; \(drainCost.line)
          errors: \(errors)\(firstError.map { " (first: \($0))" } ?? "")\(sqliteLine)
        """
    }

    private var sqliteLine: String {
        guard let insert = sqliteInsertPerSecond, let delete = sqliteDeletePerSecond, let store = storeShareOfSQLite, let drain = drainShareOfSQLite else { return "" }
        return "\n  baseline, raw SQLite with the same durability: insert \(Int(insert))/s, delete \(Int(delete))/s; "
            + "the relay stores at \(Int(store * 100))% and drains at \(Int(drain * 100))% of them"
    }
}
