import Foundation
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

@Suite struct DeliveryTests {
    @Test(arguments: StoreKind.allCases) func offlineMessagesArriveInOrderThenQueueEmpty(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)

        let a = try await alice.connectIdle()
        for i in 0..<50 { a.send(id: "m\(i)", to: "bob", text: "hello \(i)") }
        for i in 0..<50 { try await a.expectAck("m\(i)") }

        let b = try await bob.connect()
        let messages = try await b.receiveMessages()
        #expect(messages.map(\.id) == (0..<50).map { "m\($0)" })
        #expect(messages.allSatisfy { $0.from == "alice" })
        #expect(String(decoding: messages[7].body, as: UTF8.self) == "hello 7")
        await a.close()
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func onlineRecipientGetsAPushAtOnce(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let b = try await bob.connectIdle()
        let a = try await alice.connectIdle()
        a.send(id: "hi", to: "bob", text: "ciao! come va? 👋")
        try await a.expectAck("hi")
        guard case .message(let message) = try await b.next() else { Issue.record("no push"); return }
        #expect(message.id == "hi")
        #expect(String(decoding: message.body, as: UTF8.self) == "ciao! come va? 👋")
        await a.close()
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func resendingTheSameIdIsAcknowledgedAndStoredOnce(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        for _ in 0..<3 {
            a.send(id: "same", to: "bob", text: "once")
            try await a.expectAck("same")
        }
        #expect(try await relay.relay.store.stats().pendingMessages == 1)

        let b = try await bob.connect()
        let messages = try await b.receiveMessages()
        #expect(messages.map(\.id) == ["same"])
        b.send(.confirm(.init(ids: ["same"])))
        _ = try await a.nextReceipt()
        // Even after delivery and deletion, a late retry of the same id is not stored again.
        a.send(id: "same", to: "bob", text: "once")
        try await a.expectAck("same")
        await b.expectSilence()
        #expect(try await relay.relay.store.stats().pendingMessages == 0)
        await a.close()
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func unconfirmedMessagesAreDeliveredAgainOnTheNextConnection(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        for i in 0..<5 { a.send(id: "m\(i)", to: "bob", text: "x\(i)") }
        for i in 0..<5 { try await a.expectAck("m\(i)") }

        var b = try await bob.connect()
        #expect(try await b.receiveMessages().count == 5)
        b.send(.confirm(.init(ids: ["m0", "m1"])))
        try await Task.sleep(for: .milliseconds(200))
        await b.close()

        b = try await bob.connect()
        #expect(try await b.receiveMessages().map(\.id) == ["m2", "m3", "m4"])
        await a.close()
        await b.close()
    }

    @Test func confirmedMessagesLeaveNoBytesInTheDatabaseFiles() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let marker = uniqueMarker()
        let big = marker + String(repeating: "x", count: 20_000) + marker

        let a = try await alice.connectIdle()
        a.send(id: "small", to: "bob", text: marker)
        a.send(id: "big", to: "bob", text: big)
        try await a.expectAck("small")
        try await a.expectAck("big")
        #expect(try relay.databaseFileBytes().contains(marker: marker), "stored before delivery")

        let b = try await bob.connect()
        let ids = try await b.receiveMessages().map(\.id)
        b.send(.confirm(.init(ids: ids)))
        _ = try await a.nextReceipt()
        try await relay.relay.purgeDeletedData()
        #expect(!(try relay.databaseFileBytes().contains(marker: marker)), "message bytes remain after delivery")
        #expect(try await relay.relay.store.stats().pendingMessages == 0)
        await a.close()
        await b.close()
    }

    @Test func deletionIsPurgedWithoutBeingAsked() async throws {
        let relay = try await TestRelay.start { $0.purgeInterval = .milliseconds(100) }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let marker = uniqueMarker()
        let a = try await alice.connectIdle()
        a.send(id: "m", to: "bob", text: marker)
        try await a.expectAck("m")
        let b = try await bob.connect()
        _ = try await b.receiveMessages()
        b.send(.confirm(.init(ids: ["m"])))
        _ = try await a.nextReceipt()
        var clean = false
        for _ in 0..<50 where !clean {
            try await Task.sleep(for: .milliseconds(100))
            clean = !(try relay.databaseFileBytes().contains(marker: marker))
        }
        #expect(clean)
        await a.close()
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func deliveredReceiptReachesAnOfflineSenderLater(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        var a = try await alice.connectIdle()
        a.send(id: "m1", to: "bob", text: "one")
        a.send(id: "m2", to: "bob", text: "two")
        try await a.expectAck("m1")
        try await a.expectAck("m2")
        await a.close()

        let b = try await bob.connect()
        _ = try await b.receiveMessages()
        b.send(.confirm(.init(ids: ["m1", "m2"])))
        b.send(.read(.init(id: "rr1", to: "alice", messageIds: ["m1", "m2"])))
        try await b.expectAck("rr1")
        await b.close()

        a = try await alice.connect()
        let delivered = try await a.nextReceipt()
        #expect(delivered.kind == .delivered)
        #expect(delivered.from == "bob")
        #expect(delivered.messageIds == ["m1", "m2"])
        let read = try await a.nextReceipt()
        #expect(read.kind == .read)
        #expect(read.messageIds == ["m1", "m2"])
        #expect(try await a.next() == .queueEmpty)
        a.send(.confirm(.init(ids: [delivered.id, read.id])))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await relay.relay.store.stats().pendingReceipts == 0)
        await a.close()
    }

    /// The TTL holds at delivery, not only when the sweep runs: an expired message is never
    /// handed out, and its sender hears "expired" when the sweep comes.
    @Test(arguments: StoreKind.allCases) func undeliveredMessagesExpireAndTheSenderIsTold(store: StoreKind) async throws {
        let clock = TestClock()
        let relay = try await store.startRelay {
            $0.ttlMillis = 60_000
            $0.now = { clock.now }
        }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        a.send(id: "old", to: "bob", text: "too late")
        try await a.expectAck("old")

        clock.advance(by: 61_000)
        let b = try await bob.connect()
        #expect(try await b.next() == .queueEmpty, "expired: not delivered although not swept yet")
        await b.close()
        try await relay.relay.expireNow()
        let receipt = try await a.nextReceipt()
        #expect(receipt.kind == .expired)
        #expect(receipt.from == "bob")
        #expect(receipt.messageIds == ["old"])
        #expect(try await relay.relay.store.stats().pendingMessages == 0)
        await a.close()
    }

    @Test(arguments: StoreKind.allCases) func deliveryWindowBoundsUnconfirmedFrames(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.deliveryWindow = 10 }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        for i in 0..<25 { a.send(id: "m\(i)", to: "bob", text: "\(i)") }
        for i in 0..<25 { try await a.expectAck("m\(i)") }

        let b = try await bob.connect()
        var received: [String] = []
        let first = try await b.receiveMessages(count: 10)
        await b.expectSilence()
        received += first.map(\.id)
        while received.count < 25 {
            b.send(.confirm(.init(ids: Array(received.suffix(10)))))
            received += try await b.receiveMessages(count: min(10, 25 - received.count)).map(\.id)
        }
        #expect(received == (0..<25).map { "m\($0)" })
        b.send(.confirm(.init(ids: Array(received.suffix(5)))))
        #expect(try await b.next() == .queueEmpty)
        await a.close()
        await b.close()
    }

    /// At login a user hears where each of its mutual contacts is: online, or offline since
    /// when (one read for all of them); users it never talked to are not mentioned.
    @Test(arguments: StoreKind.allCases) func loginTellsTheUserWhereEachPeerIs(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let carol = try await TestUser.register("carol", on: relay)
        _ = try await TestUser.register("eve", on: relay)
        let a = try await alice.connectIdle()
        a.send(id: "m1", to: "bob", text: "hi bob")
        a.send(id: "m2", to: "carol", text: "hi carol")
        try await a.expectAck("m1")
        try await a.expectAck("m2")
        await a.close()
        let b = try await bob.connect()
        _ = try await b.receiveMessages()
        b.send(id: "r1", to: "alice", text: "hi alice") // a reply: mutual contacts
        try await b.expectAck("r1")
        await b.close()
        #expect(try await waitUntil { try await relay.relay.store.user(named: "bob")?.lastSeen != nil }, "bob's last-seen time is recorded")
        let c = try await carol.connect()
        _ = try await c.receiveMessages()
        c.send(id: "r2", to: "alice", text: "hi alice")
        try await c.expectAck("r2")
        let again = try await alice.connect()
        var presence: [String: RelayFrame.Presence] = [:]
        while presence.count < 2 {
            if case .presence(let p) = try await again.next(includeEphemeral: true) { presence[p.user] = p }
        }
        #expect(presence["carol"]?.online == true && presence["carol"]?.lastSeen == nil)
        #expect(presence["bob"]?.online == false && presence["bob"]?.lastSeen != nil)
        #expect(presence["eve"] == nil)
        await again.close()
        await c.close()
    }

    /// Two users online who never talked: a first message shows the sender nothing (a
    /// stranger learns nothing of the recipient); the reply makes them mutual contacts, and
    /// each hears at once that the other is online (not only after the next login).
    @Test(arguments: StoreKind.allCases) func aReplyMakesTwoUsersMutualAndIntroducesTheirPresence(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connect()
        let b = try await bob.connect()
        #expect(try await a.next() == .queueEmpty)
        a.send(id: "m1", to: "bob", text: "first contact")
        #expect(try await b.next() == .queueEmpty)
        guard case .message(let first) = try await b.next() else { Issue.record("bob did not get it"); return }
        b.send(.confirm(.init(ids: [first.id])))
        var beforeReply: [RelayFrame] = []
        while true {
            let frame = try await a.next(includeEphemeral: true)
            beforeReply.append(frame)
            if case .ackDelivered = frame { break }
            if case .ack = frame { break }
        }
        #expect(!beforeReply.contains { if case .presence = $0 { true } else { false } }, "a first message shows its sender no presence")
        #expect(try await relay.relay.store.peers(of: "alice").isEmpty, "not mutual yet")
        b.send(id: "r1", to: "alice", text: "hello back")
        var aliceHeard: RelayFrame.Presence?
        while aliceHeard == nil {
            if case .presence(let p) = try await a.next(includeEphemeral: true) { aliceHeard = p }
        }
        #expect(aliceHeard?.user == "bob" && aliceHeard?.online == true)
        var bobHeard: RelayFrame.Presence?
        while bobHeard == nil {
            if case .presence(let p) = try await b.next(includeEphemeral: true) { bobHeard = p }
        }
        #expect(bobHeard?.user == "alice" && bobHeard?.online == true)
        await a.close()
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func typingAndPresenceReachPeersButAreNeverStored(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        _ = try await TestUser.register("eve", on: relay)
        let a = try await alice.connectIdle()
        a.send(id: "m1", to: "bob", text: "hi")
        try await a.expectAck("m1")
        let b = try await bob.connect()
        _ = try await b.receiveMessages()
        // Typing and presence go between mutual contacts: bob answers first.
        b.send(id: "r1", to: "alice", text: "hi")
        try await b.expectAck("r1")
        b.send(.typing(.init(to: "alice")))
        var sawTyping = false
        var sawPresence = false
        for _ in 0..<4 where !(sawTyping && sawPresence) {
            switch try await a.next(includeEphemeral: true) {
            case .typing(let from): sawTyping = from == "bob"
            case .presence(let p): sawPresence = sawPresence || (p.user == "bob" && p.online)
            default: break
            }
        }
        #expect(sawTyping)
        #expect(sawPresence)
        await b.close()
        var sawOffline = false
        for _ in 0..<3 where !sawOffline {
            if case .presence(let p) = try await a.next(includeEphemeral: true), p.user == "bob", !p.online {
                sawOffline = p.lastSeen != nil
            }
        }
        #expect(sawOffline)
        #expect(try await relay.relay.store.stats().pendingReceipts == 0)
        await a.close()
    }
}

/// A settable clock for expiry tests.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Int64(Date().timeIntervalSince1970 * 1000)

    var now: Int64 { lock.withLock { value } }

    func advance(by millis: Int64) {
        lock.withLock { value += millis }
    }
}
