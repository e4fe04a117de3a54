import Foundation
@testable import ParlaClient
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Crashes, kills and cut connections: every message arrives exactly once, in order.
@Suite(.serialized) struct FaultTests {
    /// Checks bob's history holds exactly `expected` from alice, in order, once each.
    func expectExactlyOnce(_ bob: ClientStore, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let got = try bob.history(chat: "alice", limit: expected.count + 100).filter { $0.from == "alice" }.map(\.text)
        #expect(got.count == expected.count, "got \(got.count) of \(expected.count)", sourceLocation: sourceLocation)
        #expect(Set(got).count == got.count, "duplicates", sourceLocation: sourceLocation)
        #expect(got == expected, "order", sourceLocation: sourceLocation)
    }

    @Test func relayKilledMidBurstWhileTheClientKeepsRunning() async throws {
        let port = RelayProcess.freePort()
        let data = makeTemporaryDirectory(prefix: "parla-fault-relay")
        var relay = try await RelayProcess.start(dataDirectory: data, port: port)
        let aliceProfile = try await TestProfiles.register("alice", url: relay.url)
        let bobProfile = try await TestProfiles.register("bob", url: relay.url)
        let alice = try TestProfiles.engine(for: aliceProfile)
        alice.start()
        try await eventually("online") { await alice.client.connectionState == .online }

        let texts = (0..<500).map { "burst \($0)" }
        for (i, text) in texts.enumerated() {
            try await alice.client.send(text, to: "bob")
            if i == 150 { await relay.kill() }
        }
        #expect(await alice.client.outboxCount() > 0, "killed mid-burst")

        relay = try await RelayProcess.start(dataDirectory: data, port: port)
        defer { relay.terminateSoon() }
        try await eventually(timeout: .seconds(30), "outbox drained") { await alice.client.outboxCount() == 0 }
        let bob = try TestProfiles.engine(for: bobProfile)
        bob.start()
        try await eventually(timeout: .seconds(30), "bob has all") { try bob.store.allMessages().count >= 500 }
        try await Task.sleep(for: .milliseconds(300))
        try expectExactlyOnce(bob.store, texts)
        #expect(await bob.log.added().count == 500, "each shown once")
        try await eventually("relay store empty") {
            let stats = try JSONSerialization.jsonObject(with: Data(try await runRelayStats(data).utf8)) as? [String: Any]
            return stats?["pendingMessages"] as? Int == 0
        }
        await alice.shutdown()
        await bob.shutdown()
    }

    @Test func cutConnectionsLoseAndDoubleNothingAndRespectBackoff() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let aliceProfile = try await TestProfiles.register("alice", url: relay.url)
        let bobProfile = try await TestProfiles.register("bob", url: relay.url)
        let aliceProxy = try await ChaosProxy.start(forwardingTo: relay.port, lifetime: 30...250)
        let bobProxy = try await ChaosProxy.start(forwardingTo: relay.port, lifetime: 30...250)
        let policy = TestProfiles.fastRetry
        let alice = try TestProfiles.engine(for: aliceProfile, server: "ws://127.0.0.1:\(aliceProxy.port)/v1", policy: policy)
        let bob = try TestProfiles.engine(for: bobProfile, server: "ws://127.0.0.1:\(bobProxy.port)/v1", policy: policy)
        alice.start()
        bob.start()
        let texts = (0..<300).map { "chaos \($0)" }
        for text in texts {
            try await alice.client.send(text, to: "bob")
            if text.hasSuffix("0") { try await Task.sleep(for: .milliseconds(15)) }
        }
        try await Task.sleep(for: .seconds(2))
        aliceProxy.calm()
        bobProxy.calm()
        try await eventually(timeout: .seconds(40), "bob has all") { try bob.store.allMessages().count >= 300 }
        try await eventually(timeout: .seconds(20), "alice outbox empty") { await alice.client.outboxCount() == 0 }
        try await Task.sleep(for: .milliseconds(300))
        try expectExactlyOnce(bob.store, texts)
        #expect(await bob.log.added().count == 300, "redeliveries are not shown twice")
        #expect(aliceProxy.cutsSoFar + bobProxy.cutsSoFar > 3, "the proxy really cut connections")

        // Every wait between attempts stayed inside the backoff bound.
        let states = await alice.log.events
        var lastEnd: Date?
        for state in states {
            if case .connection(.waitingToRetry(let retryAt, _)) = state {
                lastEnd = retryAt
                #expect(retryAt.timeIntervalSinceNow <= ReconnectPolicy.seconds(policy.cap) + 0.05)
            }
        }
        #expect(lastEnd != nil, "alice did reconnect")
        await alice.shutdown()
        await bob.shutdown()
        await aliceProxy.stop()
        await bobProxy.stop()
    }

    @Test func aDeadLinkIsNoticedByHeartbeat() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let profile = try await TestProfiles.register("alice", url: relay.url)
        let proxy = try await ChaosProxy.start(forwardingTo: relay.port, lifetime: nil)
        let alice = try TestProfiles.engine(for: profile, server: "ws://127.0.0.1:\(proxy.port)/v1")
        alice.start()
        try await eventually("online") { await alice.client.connectionState == .online }
        proxy.freeze()
        let frozenAt = ContinuousClock.now
        // The test transport pings every 2 s: two missed pongs mean the link is dead.
        try await eventually(timeout: .seconds(10), "dead link noticed") { await alice.client.connectionState != .online }
        #expect(ContinuousClock.now - frozenAt < .seconds(6))
        proxy.thaw()
        try await eventually(timeout: .seconds(20), "back online") { await alice.client.connectionState == .online }
        await alice.shutdown()
        await proxy.stop()
    }

    /// A server that takes the TCP connection but never answers the WebSocket upgrade
    /// (a frozen relay or middlebox) must not hold the engine in "connecting" for ever.
    @Test func aServerThatNeverAnswersTheUpgradeTimesOutAndCancels() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let proxy = try await ChaosProxy.start(forwardingTo: relay.port, lifetime: nil)
        proxy.freeze()
        let transport = WebSocketTransport(connectTimeout: .seconds(1), logger: .init(label: "test"))
        let url = "ws://127.0.0.1:\(proxy.port)/v1"

        let started = ContinuousClock.now
        await #expect(throws: TransportError.self) { _ = try await transport.connect(to: url) }
        #expect(ContinuousClock.now - started < .seconds(5), "timed out in \(ContinuousClock.now - started)")

        let attempt = Task { try await transport.connect(to: url) }
        try await Task.sleep(for: .milliseconds(200))
        let cancelledAt = ContinuousClock.now
        attempt.cancel()
        _ = await attempt.result
        #expect(ContinuousClock.now - cancelledAt < .seconds(4), "cancelled in \(ContinuousClock.now - cancelledAt)")
        await proxy.stop()
    }
}

func runRelayStats(_ data: String) async throws -> String {
    try await runChildProcess(try RelayProcess.executable(named: "parla-relay"), ["stats", "--data", data, "--json"]).out
}
