import Foundation

/// `online`: clients in a ring (each sends to the next), every message a unique id; delivered
/// messages per second counted by unique id, and send → delivery latency.
public struct OnlineScenario: Sendable {
    public struct Result: Codable, Sendable, Equatable {
        public var scenario: String
        public var clients: Int
        public var messages: Int
        public var size: Int
        /// Offered messages per second (nil: as fast as acknowledgements allow).
        public var rate: Double?
        public var delivered: Int
        public var duplicates: Int
        public var errors: Int
        public var firstError: String?
        public var seconds: Double
        public var deliveredPerSecond: Double
        public var p50Ms: Double
        public var p99Ms: Double
        public var p999Ms: Double
        public var maxMs: Double
        public var cost: CostReport
        /// The same load through the bare WebSocket relay, and this run as a share of it.
        public var bareDeliveredPerSecond: Double?
        public var shareOfBare: Double?
        /// The bare relay's send → delivery latency under the same load: the floor this stack
        /// and machine put under a relay's latency, as `bareDeliveredPerSecond` is for throughput.
        public var bareP50Ms: Double?
        public var bareP99Ms: Double?
        public var bareP999Ms: Double?
    }

    public var options: LoadOptions
    public var rate: Double?
    /// Against the bare WebSocket relay instead of Parla's (the networking baseline).
    public var bare: Bool

    public init(options: LoadOptions, rate: Double? = nil, bare: Bool = false) {
        self.options = options
        self.rate = rate
        self.bare = bare
    }

    public func run() async throws -> Result {
        let run = try await LoadRun.start(options, bare: bare)
        let peers = run.peers(options.clients)
        do {
            _ = try await connectAll(peers, url: run.relay.url, as: bare ? .bare : .register, group: run.group)
            let result = try await measure(run, peers)
            await run.finish(peers)
            return result
        } catch {
            await run.finish(peers)
            throw error
        }
    }

    func measure(_ run: LoadRun, _ peers: [BenchPeer]) async throws -> Result {
        let totals = TrafficTotals()
        let traffic = peers.enumerated().map { index, peer in
            PeerTraffic(peer: peer, totals: totals, recipient: peers[(index + 1) % peers.count].name, body: run.body, window: options.window)
        }
        let meter = CostMeter(relay: run.relay)
        let started = ContinuousClock.now
        // The remainder goes to the first clients, so exactly `messages` are sent.
        let counts = traffic.indices.map { options.messages / peers.count + ($0 < options.messages % peers.count ? 1 : 0) }
        if let rate {
            PeerTraffic.startPaced(Array(zip(traffic, counts)).map { (item: $0, count: $1) }, perSecond: rate / Double(peers.count))
        } else {
            for (item, count) in zip(traffic, counts) { item.startWindowed(count: count) }
        }
        _ = await totals.wait(timeout: options.timeout) { totals.delivered.load(ordering: .relaxed) >= options.messages }
        let seconds = (ContinuousClock.now - started).seconds
        let delivered = totals.delivered.load(ordering: .relaxed)
        let cost = meter.end(messages: delivered)
        let latency = LatencyReport(try await PeerTraffic.mergedLatencies(traffic))
        withExtendedLifetime(traffic) {}
        return Result(scenario: bare ? "online-bare" : "online", clients: options.clients, messages: options.messages, size: options.size, rate: rate,
                      delivered: delivered, duplicates: totals.duplicates.load(ordering: .relaxed),
                      errors: totals.errors.load(ordering: .relaxed), firstError: totals.firstError.withLock { $0 },
                      seconds: seconds, deliveredPerSecond: Double(delivered) / seconds,
                      p50Ms: latency.p50Ms, p99Ms: latency.p99Ms, p999Ms: latency.p999Ms, maxMs: latency.maxMs, cost: cost)
    }
}

extension OnlineScenario.Result {
    public var summary: String {
        let mode = rate.map { "offered \(Int($0)) msg/s" } ?? "full speed"
        return """
            online: \(clients) clients in a ring, \(messages) messages of \(size) bytes, \(mode)
              delivered \(delivered) unique (\(duplicates) duplicates, \(errors) errors) in \(format(seconds)) s: \(Int(deliveredPerSecond)) msg/s
              latency send → delivery: p50 \(format(p50Ms)) ms, p99 \(format(p99Ms)) ms, p99.9 \(format(p999Ms)) ms, max \(format(maxMs)) ms
              \(cost.line)\(firstError.map { "\n  first error: \($0)" } ?? "")\(bareLine)
            """
    }

    private var bareLine: String {
        guard let bare = bareDeliveredPerSecond, let share = shareOfBare else { return "" }
        let latency = [bareP50Ms, bareP99Ms, bareP999Ms].allSatisfy { $0 != nil }
            ? "; its latency p50 \(format(bareP50Ms!)) ms, p99 \(format(bareP99Ms!)) ms, p99.9 \(format(bareP999Ms!)) ms" : ""
        return "\n  baseline, bare WebSocket relay (no storage, no logic): \(Int(bare)) msg/s; Parla reaches \(Int(share * 100))% of it\(latency)"
    }

    /// Records the bare relay's run of the same load as this run's baseline.
    public mutating func compare(withBare bare: OnlineScenario.Result) {
        bareDeliveredPerSecond = bare.deliveredPerSecond
        shareOfBare = deliveredPerSecond / bare.deliveredPerSecond
        bareP50Ms = bare.p50Ms
        bareP99Ms = bare.p99Ms
        bareP999Ms = bare.p999Ms
    }
}
