import Foundation
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

@Suite struct RestartTests {
    @Test func gracefulShutdownSaysGoingAwayAndKeepsEveryMessage() async throws {
        let first = try await TestRelay.start()
        let alice = try await TestUser.register("alice", on: first)
        let bob = try await TestUser.register("bob", on: first)
        let a = try await alice.connectIdle()
        for i in 0..<20 { a.send(id: "m\(i)", to: "bob", text: "before restart \(i)") }
        for i in 0..<20 { try await a.expectAck("m\(i)") }
        await first.stop()
        #expect(try await a.closeCode() == 1001)

        let second = try await TestRelay.start(dataDirectory: first.dataDirectory)
        defer { Task { await second.stop() } }
        let b = try await bob.connect(to: second)
        #expect(try await b.receiveMessages().map(\.id) == (0..<20).map { "m\($0)" })
        await b.close()
    }

    /// The relay process is killed with SIGKILL mid-burst. Every acknowledged message
    /// survives; the sender re-sends what was not acknowledged, as a client does;
    /// the recipient gets each message exactly once, in order.
    @Test func sigkillMidBurstLosesNothingAcknowledged() async throws {
        let total = 2000
        let data = makeTemporaryDirectory(prefix: "parla-sigkill")
        let relay = try await RelayProcess.start(dataDirectory: data, arguments: ["--rate-limit", "0"])
        let aliceKeys = IdentityKeys()
        let bobKeys = IdentityKeys()
        try await RelayTestClient.online(relay.url, name: "alice", keys: aliceKeys, register: true).close()
        try await RelayTestClient.online(relay.url, name: "bob", keys: bobKeys, register: true).close()

        let a = try await RelayTestClient.online(relay.url, name: "alice", keys: aliceKeys)
        for i in 0..<total { a.send(id: "k\(i)", to: "bob", text: "burst \(i)") }
        var acked: Set<String> = []
        while acked.count < 50 {
            if case .ack(let id) = try await a.next() { acked.insert(id) }
        }
        await relay.kill()
        // Collect acks that were already on the wire.
        for frame in await a.drainBuffered() {
            if case .ack(let id) = frame { acked.insert(id) }
        }
        #expect(acked.count < total, "the kill should land mid-burst")

        let restarted = try await RelayProcess.start(dataDirectory: data, arguments: ["--rate-limit", "0"])
        defer { restarted.terminateSoon() }
        let stats = try await restarted.statsJSON()
        #expect((stats["pendingMessages"] as? Int ?? 0) >= acked.count)

        // Everything is sent again, acknowledged or not: the restarted relay must recognise every
        // id it committed (their keys were in the accepted-key log when it died) and store none twice.
        let a2 = try await RelayTestClient.online(restarted.url, name: "alice", keys: aliceKeys)
        for i in 0..<total { a2.send(id: "k\(i)", to: "bob", text: "burst \(i)") }
        var reacked = 0
        while reacked < total {
            if case .ack = try await a2.next() { reacked += 1 }
        }

        let b = try await RelayTestClient.online(restarted.url, name: "bob", keys: bobKeys)
        let messages = try await b.receiveMessages(count: total, confirm: true, timeout: .seconds(20))
        #expect(Set(messages.map(\.id)).count == total, "no duplicates")
        // Order holds for everything the first relay acknowledged, and within each attempt.
        let ackedOrder = messages.map(\.id).filter { acked.contains($0) }
        #expect(ackedOrder == (0..<total).map { "k\($0)" }.filter { acked.contains($0) })
        #expect(try await b.next() == .queueEmpty)
        var pending = -1
        for _ in 0..<100 where pending != 0 {
            pending = try await restarted.statsJSON()["pendingMessages"] as? Int ?? -1
            if pending != 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(pending == 0, "the relay's store ends empty")
        await a2.close()
        await b.close()
    }

    @Test func sigtermExitsCleanly() async throws {
        let relay = try await RelayProcess.start()
        let keys = IdentityKeys()
        let client = try await RelayTestClient.online(relay.url, name: "alice", keys: keys, register: true)
        #expect(await relay.terminate() == 0)
        #expect(try await client.closeCode() == 1001)
    }
}
