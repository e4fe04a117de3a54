import Foundation
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Every kind of item a sender can put in a mailbox counts against its quota, and one sender
/// fills only its share: a stranger's flood of messages, read receipts or group invitations
/// leaves room for everyone else, and the disk cannot be filled with items the quota missed.
@Suite(.serialized) struct MailboxQuotaTests {
    @Test(arguments: StoreKind.allCases) func oneSenderFillsOnlyItsShareAndOthersStillGetThrough(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.quota = MailboxQuota(maxMessages: 8, maxBytes: 1_000_000, maxMessagesPerSender: 3) }
        defer { Task { await relay.stop() } }
        let mallory = try await TestUser.register("mallory", on: relay)
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let m = try await mallory.connectIdle()
        for i in 0..<4 { m.send(id: "m\(i)", to: "bob", text: "spam") }
        for i in 0..<3 { try await m.expectAck("m\(i)") }
        let refused = try await m.expectError(.mailboxFull)
        #expect(refused.ref == "m3")
        #expect(refused.message.contains("as much from you as it takes from one sender"), "\(refused.message)")
        // Bob's friend is not shut out by the flood.
        let a = try await alice.connectIdle()
        a.send(id: "hi", to: "bob", text: "hello bob")
        try await a.expectAck("hi")
        // Once bob has downloaded them, mallory's share is free again.
        let b = try await bob.connect()
        let ids = try await b.receiveMessages(count: 4).map(\.id)
        #expect(ids == ["m0", "m1", "m2", "hi"])
        b.send(.confirm(.init(ids: ids)))
        await b.close()
        _ = try await m.nextReceipt()
        m.send(id: "m3", to: "bob", text: "again")
        try await m.expectAck("m3")
        await m.close()
        await a.close()
    }

    @Test(arguments: StoreKind.allCases) func readReceiptsCountAndAreRefusedOnceTheMailboxIsFull(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.quota = MailboxQuota(maxMessages: 3, maxBytes: 1_000_000, maxMessagesPerSender: 3) }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        _ = try await TestUser.register("carol", on: relay)
        let b = try await bob.connectIdle()
        for i in 0..<4 { b.send(.read(.init(id: "r\(i)", to: "alice", messageIds: ["x\(i)"]))) }
        for i in 0..<3 { try await b.expectAck("r\(i)") }
        let refused = try await b.expectError(.mailboxFull)
        #expect(refused.ref == "r3")
        // Alice's mailbox is full of receipts: a message to her is refused too, not stored past the quota.
        let c = try await TestUser.register("dave", on: relay).connectIdle()
        c.send(id: "d1", to: "alice", text: "hi")
        let full = try await c.expectError(.mailboxFull)
        #expect(full.message.contains("alice's mailbox is full"))
        // She downloads and confirms them: there is room again.
        let a = try await alice.connect()
        var receipts: [String] = []
        for _ in 0..<3 { receipts.append(try await a.nextReceipt().id) }
        a.send(.confirm(.init(ids: receipts)))
        try await Task.sleep(for: .milliseconds(200))
        c.send(id: "d2", to: "alice", text: "hi again")
        try await c.expectAck("d2")
        await a.close(); await b.close(); await c.close()
    }

    @Test(arguments: StoreKind.allCases) func groupInvitationsFromOneSenderStopAtItsShare(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.quota = MailboxQuota(maxMessages: 10, maxBytes: 1_000_000, maxMessagesPerSender: 2) }
        defer { Task { await relay.stop() } }
        let mallory = try await TestUser.register("mallory", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let m = try await mallory.connectIdle()
        func create(_ n: Int) async throws -> RelayFrame {
            m.send(.groupCreate(.init(id: "c\(n)", group: "spam\(n)", title: "Spam \(n)", members: ["bob"])))
            return try await m.nextNonEvent()
        }
        #expect(try await create(1) == .ack(id: "c1"))
        #expect(try await create(2) == .ack(id: "c2"))
        guard case .error(let refused) = try await create(3) else { Issue.record("a third invitation was stored"); return }
        #expect(refused.code == .mailboxFull && refused.ref == "c3")
        // The refused group was not made.
        m.send(.groupInfo(group: "spam3"))
        guard case .error(let unknown) = try await m.next() else { Issue.record("spam3 exists"); return }
        #expect(unknown.code == .unknownGroup)
        let b = try await bob.connect()
        var events: [String] = []
        while case .groupEvent(let event) = try await b.next() { events.append(event.group) }
        #expect(events == ["spam1", "spam2"])
        await m.close(); await b.close()
    }
}
