import Foundation
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Messages between two online users pass connection to connection (see `LiveMessage` and
/// PROTOCOL.md §4.4): the sender is acknowledged once the recipient confirms, and the store
/// only takes a message whose confirmation is late or whose recipient goes away.
@Suite struct LiveDeliveryTests {
    /// The next frame (past presence and the end of the mailbox) is the acknowledgement of
    /// `id` that says it was delivered; returns when.
    private func expectAckDelivered(_ client: RelayTestClient, id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64? {
        var frame = try await client.next()
        while frame == .queueEmpty || frame.type == "presence" { frame = try await client.next() }
        guard case .ackDelivered(id, let at) = frame else {
            Issue.record("expected an ack with delivered for \(id), got \(frame.encoded())", sourceLocation: sourceLocation)
            return nil
        }
        return at
    }

    @Test func aConfirmedLiveMessageIsNeverWrittenToTheStore() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        let marker = uniqueMarker()
        a.send(id: "live-1", to: "bob", text: marker)
        guard case .message(let message) = try await b.next() else { Issue.record("no push"); return }
        #expect(String(decoding: message.body, as: UTF8.self) == marker && message.from == "alice")
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        b.send(.confirm(.init(ids: ["live-1"])))
        // One frame tells Alice both: acknowledged, and already delivered (no receipt to follow and confirm).
        let at = try await expectAckDelivered(a, id: "live-1")
        #expect(at.map { $0 >= before && $0 <= Int64(Date().timeIntervalSince1970 * 1000) } == true)
        await a.expectSilence()
        // The message never reached the database or its log, not even before a purge.
        #expect(!(try relay.databaseFileBytes().contains(marker: marker)))
        let stats = try await relay.relay.store.stats()
        #expect(stats.pendingMessages == 0 && stats.pendingReceipts == 0)
        await a.close()
        await b.close()
    }

    /// Live messages are never stored, but who talks to whom is (for presence and typing): one
    /// confirmation of messages from two senders, interleaved, records both conversations.
    @Test func liveDeliveriesRecordEachConversationForPresence() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let carol = try await TestUser.register("carol", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        _ = try await TestUser.register("eve", on: relay)
        let a = try await alice.connectIdle()
        let c = try await carol.connectIdle()
        let b = try await bob.connectIdle()
        var ids: [String] = []
        for (index, sender) in [a, a, c, a].enumerated() {
            sender.send(id: "m\(index)", to: "bob", text: "hello \(index)")
            guard case .message(let message) = try await b.next() else { Issue.record("no push"); return }
            ids.append(message.id)
        }
        b.send(.confirm(.init(ids: ids)))
        for id in ["m0", "m1", "m3"] { _ = try await expectAckDelivered(a, id: id) }
        _ = try await expectAckDelivered(c, id: "m2")
        let store = relay.relay.store
        let recorded = try await waitUntil {
            let alice = try await store.hasWritten("alice", to: "bob")
            let carol = try await store.hasWritten("carol", to: "bob")
            return alice && carol
        }
        #expect(recorded, "both conversations recorded")
        #expect(try await !store.hasWritten("bob", to: "alice"), "who wrote to whom, not the other way")
        #expect(try await store.peers(of: "bob") == [], "nobody answered: no mutual contacts yet")
        #expect(try await !store.hasWritten("eve", to: "bob"))
        await a.close()
        await c.close()
        await b.close()
    }

    @Test func aLateConfirmationStoresTheMessageAndTheSenderIsAcknowledged() async throws {
        let relay = try await TestRelay.start { $0.liveHold = .milliseconds(100) }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        let marker = uniqueMarker()
        a.send(id: "slow", to: "bob", text: marker)
        guard case .message = try await b.next() else { Issue.record("no push"); return }
        // Bob's client says nothing: after the hold the relay stores it, then acknowledges Alice.
        try await a.expectAck("slow")
        #expect(try relay.databaseFileBytes().contains(marker: marker), "stored before the acknowledgement")
        #expect(try await relay.relay.store.stats().pendingMessages == 1)
        await b.expectSilence()
        b.send(.confirm(.init(ids: ["slow"])))
        #expect(try await a.nextReceipt().messageIds == ["slow"])
        #expect(try await relay.relay.store.stats().pendingMessages == 0)
        // Confirmed once, sent once: the mailbox read after the confirmation does not send it again.
        await b.expectSilence()
        await a.close()
        await b.close()
    }

    @Test func aRecipientThatLeavesGetsItsUnconfirmedMessagesAgainInOrder() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        var b = try await bob.connectIdle()
        for i in 0..<20 { a.send(id: "m\(i)", to: "bob", text: "live \(i)") }
        let first = try await b.receiveMessages(count: 20)
        #expect(first.map(\.id) == (0..<20).map { "m\($0)" })
        b.send(.confirm(.init(ids: (0..<5).map { "m\($0)" })))
        for i in 0..<5 { _ = try await expectAckDelivered(a, id: "m\(i)") }
        await b.close()
        // Every message is acknowledged: five confirmed live (above, as delivered), fifteen stored
        // when Bob left (plain acks: they are not delivered yet).
        var stored: Set<String> = []
        while stored.count < 15 {
            let frame = try await a.next()
            guard case .ack(let id) = frame else { Issue.record("expected a plain ack, got \(frame.encoded())"); return }
            stored.insert(id)
        }
        #expect(stored == Set((5..<20).map { "m\($0)" }))
        #expect(try await relay.relay.store.stats().pendingMessages == 15)
        b = try await bob.connect()
        #expect(try await b.receiveMessages().map(\.id) == (5..<20).map { "m\($0)" })
        await a.close()
        await b.close()
    }

    @Test func aResendOfALiveDeliveredMessageIsAcknowledgedNotDeliveredAgain() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        var a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        a.send(id: "once", to: "bob", text: "hello")
        _ = try await b.receiveMessages(count: 1, confirm: true)
        let first = try await expectAckDelivered(a, id: "once")
        // Alice's client did not see the ack (say the link dropped) and sends it again on a new connection:
        // it is told the same (acknowledged, delivered then), and Bob does not get it twice.
        await a.close()
        a = try await alice.connect()
        a.send(id: "once", to: "bob", text: "hello")
        let again = try await expectAckDelivered(a, id: "once")
        #expect(again == first && first != nil)
        await b.expectSilence()
        #expect(try await relay.relay.store.stats().pendingMessages == 0)
        await a.close()
        await b.close()
    }

    /// A recipient that reads but never confirms cannot make the relay hold unbounded bodies in
    /// memory: past the byte limit what it holds is stored, in order, and the rest is stored first.
    @Test(arguments: StoreKind.allCases) func liveMemoryIsBoundedByBytes(store: StoreKind) async throws {
        let relay = try await store.startRelay {
            $0.liveHold = .seconds(30)
            $0.liveBytesLimit = 64 * 1024
        }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        let body = String(repeating: "x", count: 10 * 1024)
        for i in 0..<20 { a.send(id: "big\(i)", to: "bob", text: body) }
        // No confirmation and a long hold: only the byte limit gets Alice acknowledgements now.
        // At most 64 KiB (six of these) stay held live; everything else is stored.
        var acked: Set<String> = []
        try await a.collectAcks(into: &acked, until: 14)
        #expect(try await relay.relay.store.stats().pendingMessages >= 14)
        let messages = try await b.receiveMessages(count: 20)
        #expect(messages.map(\.id) == (0..<20).map { "big\($0)" }, "each once, in order")
        await b.expectSilence()
        b.send(.confirm(.init(ids: messages.map(\.id))))
        try await a.collectAcks(into: &acked, until: 20)
        await a.close()
        await b.close()
    }

    /// A recipient that confirms in bursts, stalls past the hold time and reconnects halfway:
    /// live, stored-after-all and stored-first messages interleave, and Bob still sees each of
    /// Alice's messages for the first time in the order she sent them.
    @Test(arguments: StoreKind.allCases) func orderHoldsAcrossLiveAndStoredRoutes(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.liveHold = .milliseconds(60) }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        var b = try await bob.connectIdle()
        let total = 300
        let sender = Task {
            for i in 0..<total {
                a.send(id: "k\(i)", to: "bob", text: "n\(i)")
                if i % 25 == 0 { try await Task.sleep(for: .milliseconds(40)) }
            }
        }
        var firstSeen: [String] = []
        var seen: Set<String> = []
        var unconfirmed: [String] = []
        var received = 0
        while seen.count < total {
            let frame = try await b.next(timeout: .seconds(10))
            guard case .message(let message) = frame else { continue }
            received += 1
            if seen.insert(message.id).inserted { firstSeen.append(message.id) }
            unconfirmed.append(message.id)
            if received % 30 == 0 {
                // Stall past the hold time, then confirm what came so far.
                try await Task.sleep(for: .milliseconds(150))
                b.send(.confirm(.init(ids: unconfirmed)))
                unconfirmed = []
            }
            if received == 140 {
                await b.close()
                unconfirmed = []
                b = try await bob.connect()
            }
        }
        b.send(.confirm(.init(ids: unconfirmed)))
        try await sender.value
        #expect(firstSeen == (0..<total).map { "k\($0)" }, "first deliveries in the order sent")
        var acked: Set<String> = []
        try await a.collectAcks(into: &acked, until: total)
        await a.close()
        await b.close()
    }
}

extension RelayTestClient {
    /// Reads frames, keeping the ids acknowledged, until `count` distinct ones have come.
    func collectAcks(into acked: inout Set<String>, until count: Int, timeout: Duration = .seconds(10)) async throws {
        while acked.count < count {
            if let id = try await next(timeout: timeout).acknowledgedID { acked.insert(id) }
        }
    }
}
