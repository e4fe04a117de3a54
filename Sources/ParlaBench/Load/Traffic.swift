import Foundation
import Histogram
import NIOCore
import Synchronization

/// Totals across all peers, updated from their event loops and read by the scenario.
final class TrafficTotals: Sendable {
    let sent = Atomic<Int>(0)
    let acked = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let duplicates = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let receipts = Atomic<Int>(0)
    let firstError = Mutex<String?>(nil)

    func error(_ text: String) {
        errors.add(1, ordering: .relaxed)
        firstError.withLock { if $0 == nil { $0 = text } }
    }

    /// Polls until `condition` holds or `timeout` passes; true if it held.
    func wait(timeout: Duration, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return condition()
    }
}

/// One peer's traffic, confined to its connection's event loop: sends its quota to `recipient`
/// (with a window of unacknowledged sends, or paced at a rate), counts unique deliveries,
/// records send → delivery latency from the time carried in each id, and confirms in batches.
final class PeerTraffic: @unchecked Sendable {
    let peer: BenchPeer
    let totals: TrafficTotals
    var recipient: String?
    let body: String
    let window: Int
    private var quota = 0
    private var sentHere = 0
    private var inflight = 0
    private var outgoing: [String] = []
    private var toConfirm: [String] = []
    private var seen = Set<String>()
    private var pacer: RepeatedTask?
    /// How far behind the schedule of a peer at phase 0 this one sends, as a fraction of one interval (0..<1).
    private var phase = 0.0
    /// Microseconds; up to two minutes.
    private(set) var latencies = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)

    init(peer: BenchPeer, totals: TrafficTotals, recipient: String?, body: String, window: Int) {
        self.peer = peer
        self.totals = totals
        self.recipient = recipient
        self.body = body
        self.window = window
        peer.onFrame = { [weak self] type, buffer in self?.frame(type, buffer) }
        peer.onReadComplete = { [weak self] in self?.flush() }
    }

    var eventLoop: any EventLoop { peer.connection!.channel.eventLoop }

    /// Sends `count` messages as fast as acks allow.
    func startWindowed(count: Int) {
        eventLoop.execute {
            self.quota += count
            self.refill()
            self.flush()
        }
    }

    /// Sends `count` messages (or until `stopPacing`) at `perSecond` each, whatever the acks do (an
    /// open loop, so latency is measured at the offered rate and not hidden by back-pressure). One
    /// timer per event loop drives all of its peers: a timer per peer cost the generator more
    /// than the messages did. Each peer's sends are offset by its share of one interval, so the
    /// offered load arrives evenly spread in time: peers in step would send in bursts of one
    /// message each, and the latency measured would be the time to work through a burst.
    static func startPaced(_ traffic: [(item: PeerTraffic, count: Int)], perSecond: Double) {
        var byLoop: [(loop: any EventLoop, items: [(item: PeerTraffic, count: Int)])] = []
        for (position, entry) in traffic.enumerated() {
            entry.item.phase = Double(position) / Double(traffic.count)
            if let index = byLoop.firstIndex(where: { $0.loop === entry.item.eventLoop }) {
                byLoop[index].items.append(entry)
            } else {
                byLoop.append((entry.item.eventLoop, [entry]))
            }
        }
        for (loop, entries) in byLoop {
            loop.execute {
                let started = ContinuousClock.now
                for (item, count) in entries { item.quota += count }
                let items = entries.map(\.item)
                let pacer = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
                    let due = (ContinuousClock.now - started).seconds * perSecond
                    var running = false
                    for item in items {
                        if item.pace(due: due) { running = true }
                    }
                    if !running { task.cancel() }
                }
                for item in items { item.pacer = pacer }
            }
        }
    }

    /// Queues what is due by now and sends it; false once the quota is spent.
    private func pace(due: Double) -> Bool {
        var queued = false
        let due = due - phase
        while Double(sentHere) < due, sentHere < quota, inflight < 20_000 {
            queueOne()
            queued = true
        }
        if queued { flush() }
        return sentHere < quota
    }

    func stopPacing() {
        eventLoop.execute {
            self.pacer?.cancel()
            self.quota = self.sentHere
        }
    }

    private func refill() {
        while inflight < window, sentHere < quota { queueOne() }
    }

    private func queueOne() {
        guard let recipient else { return }
        let id = "\(peer.index):\(sentHere):\(DispatchTime.now().uptimeNanoseconds)"
        outgoing.append(BenchFrames.send(id: id, to: recipient, body: body))
        sentHere += 1
        inflight += 1
        totals.sent.add(1, ordering: .relaxed)
    }

    private func frame(_ type: String, _ buffer: ByteBuffer) {
        switch type {
        case "ack":
            inflight -= 1
            totals.acked.add(1, ordering: .relaxed)
            if pacer == nil { refill() }
        case "message":
            guard let id = FrameScan.string("id", in: buffer) else { return }
            toConfirm.append(id)
            if seen.insert(id).inserted {
                totals.delivered.add(1, ordering: .relaxed)
                if let sentNanos = id.split(separator: ":").last.flatMap({ UInt64($0) }) {
                    let now = DispatchTime.now().uptimeNanoseconds
                    _ = latencies.record(now > sentNanos ? (now - sentNanos) / 1000 : 0)
                }
            } else {
                totals.duplicates.add(1, ordering: .relaxed)
            }
        case "receipt", "groupEvent":
            // Receipts wait in the mailbox like messages and count against the delivery
            // window until confirmed: a client that ignored them would stall its own deliveries.
            if let id = FrameScan.string("id", in: buffer) { toConfirm.append(id) }
            totals.receipts.add(1, ordering: .relaxed)
        case "error":
            totals.error(String(buffer: buffer))
            if FrameScan.string("ref", in: buffer) != nil { inflight -= 1 }
        default:
            break
        }
    }

    private func flush() {
        if !toConfirm.isEmpty {
            var index = 0
            while index < toConfirm.count {
                let end = min(index + 1024, toConfirm.count)
                outgoing.append(BenchFrames.confirm(toConfirm[index..<end]))
                index = end
            }
            toConfirm.removeAll(keepingCapacity: true)
        }
        guard !outgoing.isEmpty else { return }
        peer.send(outgoing)
        outgoing.removeAll(keepingCapacity: true)
    }

    /// Gathers the histograms of all peers (each read on its own event loop).
    static func mergedLatencies(_ traffic: [PeerTraffic]) async throws -> Histogram<UInt64> {
        var merged = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
        for item in traffic {
            let histogram = try await item.eventLoop.submit { item.latencies }.get()
            merged.add(histogram)
        }
        return merged
    }
}

/// Latency percentiles in milliseconds.
public struct LatencyReport: Codable, Sendable, Equatable {
    public var p50Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    public var maxMs: Double

    init(_ histogram: Histogram<UInt64>) {
        p50Ms = Double(histogram.valueAtPercentile(50)) / 1000
        p99Ms = Double(histogram.valueAtPercentile(99)) / 1000
        p999Ms = Double(histogram.valueAtPercentile(99.9)) / 1000
        maxMs = Double(histogram.max) / 1000
    }

    public var line: String { "p50 \(format(p50Ms)) ms, p99 \(format(p99Ms)) ms, p99.9 \(format(p999Ms)) ms, max \(format(maxMs)) ms" }
}
