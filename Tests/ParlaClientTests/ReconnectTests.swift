import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import Testing

@Suite struct ReconnectPolicyTests {
    @Test func boundsGrowExponentiallyUpToTheCap() {
        var policy = ReconnectPolicy(base: .milliseconds(500), cap: .seconds(30), stableAfter: .seconds(20))
        var bounds: [Duration] = []
        for _ in 0..<10 {
            bounds.append(policy.currentBound)
            _ = policy.nextDelay(onlineFor: nil) { $0 }
        }
        #expect(bounds == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30), .seconds(30)])
    }

    @Test func fullJitterDrawsBetweenZeroAndTheBound() {
        var policy = ReconnectPolicy()
        var drawnFrom: [Double] = []
        let delay = policy.nextDelay(onlineFor: nil) { upper in
            drawnFrom.append(upper)
            return upper / 4
        }
        #expect(drawnFrom == [0.5])
        #expect(delay == .milliseconds(125))
        for _ in 0..<100 {
            let d = policy.nextDelay(onlineFor: nil)
            #expect(d >= .zero && d <= .seconds(30))
        }
    }

    @Test func aStableConnectionResetsTheBackoffButAShortOneDoesNot() {
        var policy = ReconnectPolicy(base: .milliseconds(500), cap: .seconds(30), stableAfter: .seconds(20))
        for _ in 0..<5 { _ = policy.nextDelay(onlineFor: nil) }
        #expect(policy.currentBound == .seconds(16))
        _ = policy.nextDelay(onlineFor: .seconds(3))
        #expect(policy.currentBound == .seconds(30))
        _ = policy.nextDelay(onlineFor: .seconds(25)) { $0 }
        #expect(policy.currentBound == .seconds(1), "reset, then one failure counted")
        policy.reset()
        #expect(policy.currentBound == .milliseconds(500))
    }
}

@Suite struct ManualClockTests {
    /// Cancelling one wait must not end another: the clock once woke every sleeper, so any
    /// cancelled wait cut an engine's backoff short (an extra, early reconnect attempt).
    @Test func cancellingOneSleeperLeavesTheOthersWaiting() async throws {
        let clock = ManualClock()
        let backoff = Task { try await clock.sleep(for: .seconds(4)) }
        let timeout = Task { try await clock.sleep(for: .seconds(10)) }
        try await eventually("both wait") { clock.pendingSleeps.count == 2 }
        timeout.cancel()
        await #expect(throws: CancellationError.self) { try await timeout.value }
        #expect(clock.pendingSleeps == [.seconds(4)], "the other still waits")
        clock.advance(by: .seconds(4))
        try await backoff.value
        // Cancelled before it even started waiting: it still ends.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(for: .seconds(1))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }
}

/// A transport whose relay is never there: every connect fails at once.
struct UnreachableTransport: RelayTransport {
    let attempts = Counter()
    func connect(to url: String) async throws -> any RelayLink {
        attempts.increment()
        throw TransportError.unreachable("connection refused")
    }
}

/// Records every URL it is asked to connect to, and fails each.
final class RecordingUnreachableTransport: RelayTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var tried: [String] = []
    var urls: [String] { lock.withLock { tried } }
    func connect(to url: String) async throws -> any RelayLink {
        lock.withLock { tried.append(url) }
        throw TransportError.unreachable("connection refused")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}

@Suite struct EngineReconnectTests {
    func makeEngine(transport: any RelayTransport, clock: ManualClock) async throws -> RunningClient {
        let relay = try await TestRelay.start()
        let profile = try await TestProfiles.register("alice", url: relay.url)
        await relay.stop()
        return RunningClient(client: try ParlaClient(
            profile: profile, transport: transport, clock: clock,
            policy: ReconnectPolicy(base: .milliseconds(500), cap: .seconds(30), stableAfter: .seconds(20)),
            logger: TestProfiles.quietLogger))
    }

    /// Backoff waits happen on the injected clock: no real sleeping, and each wait
    /// respects the exponential bound.
    @Test func retriesFollowTheBackoffOnTheInjectedClock() async throws {
        let clock = ManualClock()
        let transport = UnreachableTransport()
        let engine = try await makeEngine(transport: transport, clock: clock)
        engine.start()
        var bound: Duration = .milliseconds(500)
        for attempt in 1...8 {
            try await eventually("attempt \(attempt)") { transport.attempts.value == attempt && !clock.pendingSleeps.isEmpty }
            let wait = try #require(clock.pendingSleeps.first)
            #expect(wait <= bound, "attempt \(attempt) waits \(wait), bound \(bound)")
            guard case .waitingToRetry(let retryAt, let reason) = await engine.client.connectionState else {
                Issue.record("not waiting"); return
            }
            #expect(reason.contains("connection refused"))
            #expect(abs(retryAt.timeIntervalSince(clock.now()) - ManualClock.seconds(wait)) < 0.01)
            clock.advance(by: wait)
            bound = min(bound * 2, .seconds(30))
        }
        await engine.shutdown()
    }

    /// A relay of three nodes: a failed node is followed at once by the next, and only when
    /// all three failed does the engine wait, then starts the round again where it left off.
    @Test func aListOfNodesIsTriedInTurnBeforeEachBackoff() async throws {
        let clock = ManualClock()
        let transport = RecordingUnreachableTransport()
        let relay = try await TestRelay.start()
        let profile = try await TestProfiles.register("alice", url: relay.url)
        await relay.stop()
        let nodes = ["ws://a.test:1/v1", "ws://b.test:2/v1", "ws://c.test:3/v1"]
        let engine = RunningClient(client: try ParlaClient(
            profile: profile, server: nodes.joined(separator: ","), transport: transport, clock: clock,
            policy: ReconnectPolicy(base: .milliseconds(500), cap: .seconds(30), stableAfter: .seconds(20)), logger: TestProfiles.quietLogger))
        engine.start()
        try await eventually("a round of three") { transport.urls.count == 3 && clock.pendingSleeps.count == 1 }
        #expect(transport.urls == nodes)
        clock.advance(by: clock.pendingSleeps[0])
        try await eventually("the second round") { transport.urls.count == 6 && clock.pendingSleeps.count == 1 }
        #expect(Array(transport.urls.suffix(3)) == nodes)
        await engine.shutdown()
    }

    @Test func retryNowSkipsTheWait() async throws {
        let clock = ManualClock()
        let transport = UnreachableTransport()
        let engine = try await makeEngine(transport: transport, clock: clock)
        engine.start()
        for attempt in 1...4 {
            // The wait after this very attempt: never one left from before it.
            try await eventually("waiting after attempt \(attempt)") { transport.attempts.value == attempt && clock.pendingSleeps.count == 1 }
            clock.advance(by: clock.pendingSleeps[0])
        }
        try await eventually("fifth wait") { transport.attempts.value == 5 && !clock.pendingSleeps.isEmpty }
        await engine.client.retryNow()
        try await eventually("retried without the clock moving") { transport.attempts.value == 6 }
        try await eventually("waiting again") { !clock.pendingSleeps.isEmpty }
        #expect(clock.pendingSleeps[0] <= .milliseconds(500), "retry now also resets the backoff")
        await engine.shutdown()
    }
}
