import Foundation
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Two real `parla-relay serve --store postgres://…` processes; one is killed with SIGKILL in
/// the middle of a burst. The sender fails over to the other node and sends again what was
/// not acknowledged (as the engine's outbox does): the recipient gets everything once.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FailoverTests {
    @Test func killingANodeMidBurstLosesNothingAndDuplicatesNothing() async throws {
        let postgres = try await TestPostgres.start()
        let store = "postgres://postgres@127.0.0.1:\(postgres.port)/postgres"
        let first = try await RelayProcess.start(arguments: ["--store", store, "--node", "first", "--live-hold", "0"])
        let second = try await RelayProcess.start(arguments: ["--store", store, "--node", "second", "--live-hold", "0"])
        defer {
            first.terminateSoon()
            second.terminateSoon()
            Task { await postgres.stop() }
        }
        let aliceKeys = IdentityKeys(), bobKeys = IdentityKeys()
        await (try RelayTestClient.online(first.url, name: "alice", keys: aliceKeys, register: true)).close()
        await (try RelayTestClient.online(second.url, name: "bob", keys: bobKeys, register: true)).close()
        // Bob is online on the node that survives and confirms what arrives.
        let b = try await RelayTestClient.online(second.url, name: "bob", keys: bobKeys)
        #expect(try await b.next() == .queueEmpty)

        let ids = (0..<300).map { "f\($0)" }
        var a = try await RelayTestClient.online(first.url, name: "alice", keys: aliceKeys)
        #expect(try await a.next() == .queueEmpty)
        for id in ids { a.send(id: id, to: "bob", text: "burst \(id) — ñ 🚀") }
        var acked = Set<String>()
        while acked.count < 40, let frame = try? await a.next(timeout: .seconds(10)) {
            if case .ack(let id) = frame { acked.insert(id) }
        }
        await first.kill()
        // Whatever the dead node acknowledged is committed; the rest goes again to the other node.
        a = try await RelayTestClient.online(second.url, name: "alice", keys: aliceKeys)
        let resend = ids.filter { !acked.contains($0) }
        for id in resend { a.send(id: id, to: "bob", text: "burst \(id) — ñ 🚀") }
        var answered = 0
        while answered < resend.count, let frame = try? await a.next(timeout: .seconds(15)) {
            if case .ack = frame { answered += 1 }
            if case .error(let error) = frame { Issue.record("refused after failover: \(error)"); answered += 1 }
        }
        #expect(answered == resend.count)

        var got: [String] = []
        while got.count < ids.count, let frame = try? await b.next(timeout: .seconds(15)) {
            if case .message(let message) = frame {
                got.append(message.id)
                b.send(.confirm(.init(ids: [message.id])))
            }
        }
        #expect(Set(got).count == got.count, "nothing twice")
        #expect(Set(got) == Set(ids), "missing \(Set(ids).subtracting(got).sorted().prefix(10))")
        // Those acknowledged by the dead node came first and in order.
        #expect(got.filter { acked.contains($0) } == ids.filter { acked.contains($0) })
        await b.expectSilence(for: .milliseconds(500))
        await a.close()
        await b.close()
    }
}
