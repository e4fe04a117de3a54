import Foundation
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayPostgres
import ParlaRelayTesting
import Testing

/// Relay nodes sharing one real PostgreSQL (a throwaway cluster per test).
@Suite(.serialized, .timeLimit(.minutes(3))) struct PostgresStoreTests {
    @Test func aMessageCrossesNodesLiveAndItsReceiptComesBack() async throws {
        let postgres = try await TestPostgres.start()
        let nodeA = try await TestRelay.start(postgres: postgres.url, node: "a")
        let nodeB = try await TestRelay.start(postgres: postgres.url, node: "b")
        defer {
            Task {
                await nodeA.stop()
                await nodeB.stop()
                await postgres.stop()
            }
        }
        // One relay: both nodes show the same identity, so a client's pin holds on either.
        #expect(try await nodeA.relay.store.relayIdentity().id == nodeB.relay.store.relayIdentity().id)
        let alice = try await TestUser.register("alice", on: nodeA)
        let bob = try await TestUser.register("bob", on: nodeB)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        a.send(id: "hi", to: "bob", text: "ciao da A 👋")
        try await a.expectAck("hi")
        guard case .message(let message) = try await b.next() else { Issue.record("no push across nodes"); return }
        #expect(message.id == "hi" && message.from == "alice")
        #expect(String(decoding: message.body, as: UTF8.self) == "ciao da A 👋")
        b.send(.confirm(.init(ids: ["hi"])))
        let receipt = try await a.nextReceipt()
        #expect(receipt.messageIds == ["hi"] && receipt.from == "bob")
        #expect(try await nodeB.relay.store.stats().pendingMessages == 0)
        await a.close()
        await b.close()
    }
}
