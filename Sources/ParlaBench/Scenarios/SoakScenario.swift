import Foundation

/// `soak`: a steady ring load at a fixed rate for a given time, with the relay's memory
/// sampled along the way; growth is measured from the first sample after warm-up.
public struct SoakScenario: Sendable {
    public struct Sample: Codable, Sendable, Equatable {
        public var second: Double
        public var relayRssBytes: Int
        public var deliveredPerSecond: Double
    }

    public struct Result: Codable, Sendable, Equatable {
        public var scenario = "soak"
        public var clients: Int
        public var size: Int
        public var rate: Double
        public var seconds: Double
        public var sent: Int
        public var delivered: Int
        public var duplicates: Int
        public var errors: Int
        public var firstError: String?
        public var deliveredPerSecond: Double
        public var rssGrowthPercent: Double?
        public var p50Ms: Double
        public var p99Ms: Double
        public var p999Ms: Double
        public var samples: [Sample]
        public var cost: CostReport
    }

    public var options: LoadOptions
    public var rate: Double
    public var duration: Duration
    public var interval: Duration

    public init(options: LoadOptions, rate: Double, duration: Duration, interval: Duration = .seconds(5)) {
        self.options = options
        self.rate = rate
        self.duration = duration
        self.interval = interval
    }

    public func run() async throws -> Result {
        let run = try await LoadRun.start(options)
        let peers = run.peers(options.clients)
        do {
            _ = try await connectAll(peers, url: run.relay.url, as: .register, group: run.group)
            let totals = TrafficTotals()
            let traffic = peers.enumerated().map { index, peer in
                PeerTraffic(peer: peer, totals: totals, recipient: peers[(index + 1) % peers.count].name, body: run.body, window: options.window)
            }
            let meter = CostMeter(relay: run.relay)
            let started = ContinuousClock.now
            PeerTraffic.startPaced(traffic.map { (item: $0, count: Int.max / 2) }, perSecond: rate / Double(peers.count))
            var samples: [Sample] = []
            var lastDelivered = 0
            var lastTime = started
            while ContinuousClock.now - started < duration {
                try await Task.sleep(for: interval)
                let now = ContinuousClock.now
                let delivered = totals.delivered.load(ordering: .relaxed)
                samples.append(Sample(second: (now - started).seconds, relayRssBytes: run.relay.sample()?.residentBytes ?? 0,
                                      deliveredPerSecond: Double(delivered - lastDelivered) / (now - lastTime).seconds))
                lastDelivered = delivered
                lastTime = now
            }
            for item in traffic { item.stopPacing() }
            try await Task.sleep(for: .milliseconds(50))
            let sent = totals.sent.load(ordering: .relaxed)
            _ = await totals.wait(timeout: .seconds(30)) { totals.delivered.load(ordering: .relaxed) >= sent }
            let seconds = (ContinuousClock.now - started).seconds
            let delivered = totals.delivered.load(ordering: .relaxed)
            let cost = meter.end(messages: delivered)
            let latency = LatencyReport(try await PeerTraffic.mergedLatencies(traffic))
            withExtendedLifetime(traffic) {}
            // Growth from the first sample after warm-up (the second one) to the last.
            let baseline = samples.count > 2 ? samples[1].relayRssBytes : samples.first?.relayRssBytes
            let growth = baseline.flatMap { base in samples.last.map { base > 0 ? Double($0.relayRssBytes - base) * 100 / Double(base) : 0 } }
            await run.finish(peers)
            return Result(clients: options.clients, size: options.size, rate: rate, seconds: seconds, sent: sent, delivered: delivered,
                          duplicates: totals.duplicates.load(ordering: .relaxed), errors: totals.errors.load(ordering: .relaxed),
                          firstError: totals.firstError.withLock { $0 }, deliveredPerSecond: Double(delivered) / seconds,
                          rssGrowthPercent: growth, p50Ms: latency.p50Ms, p99Ms: latency.p99Ms, p999Ms: latency.p999Ms,
                          samples: samples, cost: cost)
        } catch {
            await run.finish(peers)
            throw error
        }
    }
}

extension SoakScenario.Result {
    public var summary: String {
        var lines = ["soak: \(clients) clients, \(Int(rate)) msg/s offered for \(format(seconds)) s, \(size)-byte messages",
                     "  sent \(sent), delivered \(delivered) (\(duplicates) duplicates, \(errors) errors): \(Int(deliveredPerSecond)) msg/s",
                     "  latency p50 \(format(p50Ms)) ms, p99 \(format(p99Ms)) ms, p99.9 \(format(p999Ms)) ms",
                     "  relay RSS growth after warm-up: \(rssGrowthPercent.map { format($0) + "%" } ?? "unknown")"]
        for sample in samples {
            lines.append("    \(format(sample.second)) s: RSS \(sample.relayRssBytes / 1_048_576) MiB, \(Int(sample.deliveredPerSecond)) msg/s")
        }
        lines.append("  \(cost.line)")
        if let firstError { lines.append("  first error: \(firstError)") }
        return lines.joined(separator: "\n")
    }
}
