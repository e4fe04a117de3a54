import Foundation
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayPostgres
import ParlaRelayTesting
import Testing

/// Several relay nodes on one PostgreSQL.
final class Cluster: Sendable {
    let postgres: TestPostgres
    let nodes: [TestRelay]

    static func start(nodes count: Int, configure: @escaping @Sendable (inout RelayConfiguration) -> Void = { _ in }) async throws -> Cluster {
        let postgres = try await TestPostgres.start()
        var nodes: [TestRelay] = []
        for index in 0..<count {
            nodes.append(try await TestRelay.start(postgres: postgres.url, node: "node\(index)", configure: configure))
        }
        return Cluster(postgres: postgres, nodes: nodes)
    }

    private init(postgres: TestPostgres, nodes: [TestRelay]) {
        self.postgres = postgres
        self.nodes = nodes
    }

    func stop() async {
        for node in nodes { await node.stop() }
        await postgres.stop()
    }
}

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

    /// Six users, two per node; everyone writes to everyone, then everyone moves to another
    /// node and writes again. Each recipient gets each sender's messages once, in order.
    @Test func threeNodesUsersSpreadOverThemGetEverythingOnceAndInOrder() async throws {
        let cluster = try await Cluster.start(nodes: 3)
        defer { Task { await cluster.stop() } }
        let names = (0..<6).map { "user\($0)" }
        var users: [TestUser] = []
        for (index, name) in names.enumerated() { users.append(try await TestUser.register(name, on: cluster.nodes[index % 3])) }
        var received: [String: [String: [String]]] = [:]
        let perRound = 15
        for round in 0..<2 {
            var clients: [RelayTestClient] = []
            for (index, user) in users.enumerated() {
                let client = try await user.connect(to: cluster.nodes[(index + round) % 3])
                clients.append(client)
            }
            for client in clients { _ = try await client.receiveMessages(confirm: true) }
            for (index, client) in clients.enumerated() {
                for n in 0..<perRound {
                    for other in names where other != names[index] {
                        client.send(id: "r\(round)-\(n)-\(names[index])-\(other)", to: other, text: "\(names[index]) → \(other) #\(round).\(n) ✓")
                    }
                }
            }
            for (index, client) in clients.enumerated() {
                var messages: [RelayFrame.Message] = []
                var others: [String: Int] = [:]
                while messages.count < perRound * 5 {
                    guard let frame = try? await client.next(timeout: .seconds(10)) else {
                        Issue.record("\(names[index]) on round \(round) got \(messages.count) of \(perRound * 5); also \(others)")
                        break
                    }
                    switch frame {
                    case .error(let e): others["error \(e.code) \(e.message)", default: 0] += 1
                    case .ack: others["ack", default: 0] += 1
                    default: others[String(frame.encoded().prefix(20)), default: 0] += 1
                    }
                    if case .message(let message) = frame {
                        messages.append(message)
                        client.send(.confirm(.init(ids: [message.id])))
                    }
                }
                for message in messages { received[names[index], default: [:]][message.from, default: []].append(message.id) }
            }
            // Every confirmation committed before anyone moves: nothing is due again.
            let drained = try await waitUntil { try await cluster.nodes[0].relay.store.stats().pendingMessages == 0 }
            if !drained {
                for name in names {
                    let left = try await cluster.nodes[0].relay.store.pending(for: name, after: 0, limit: 100, now: Int64(Date().timeIntervalSince1970 * 1000))
                    Issue.record("round \(round): \(name) still has \(left.filter { $0.kind == .message }.map { "\($0.seq):\($0.id)" })")
                }
            }
            for client in clients { await client.close() }
        }
        for recipient in names {
            for sender in names where sender != recipient {
                let expected = (0..<2).flatMap { round in (0..<perRound).map { "r\(round)-\($0)-\(sender)-\(recipient)" } }
                #expect(received[recipient]?[sender] == expected, "\(sender) → \(recipient)")
            }
        }
    }

    @Test func aSecondLoginOnAnotherNodeClosesTheFirst() async throws {
        let cluster = try await Cluster.start(nodes: 2)
        defer { Task { await cluster.stop() } }
        let alice = try await TestUser.register("alice", on: cluster.nodes[0])
        let bob = try await TestUser.register("bob", on: cluster.nodes[0])
        let first = try await alice.connect(to: cluster.nodes[0])
        #expect(try await first.next() == .queueEmpty)
        let second = try await alice.connect(to: cluster.nodes[1])
        #expect(try await second.next() == .queueEmpty)
        #expect(try await first.closeCode() == Int(CloseCode.replaced))
        // Messages now reach the new connection, from either node.
        let b = try await bob.connect(to: cluster.nodes[0])
        #expect(try await b.next() == .queueEmpty)
        b.send(id: "m", to: "alice", text: "to the new one")
        try await b.expectAck("m")
        #expect(try await second.receiveMessages(count: 1).map(\.id) == ["m"])
        await b.close()
        await second.close()
    }

    /// PostgreSQL crashes (immediate shutdown) while a sender pipelines a burst, and comes
    /// back. Every acknowledged message is delivered; the refused ones are sent again (as a
    /// client's outbox does) and arrive once too.
    @Test func postgresCrashingMidBurstLosesNoAcknowledgedMessage() async throws {
        let cluster = try await Cluster.start(nodes: 2)
        defer { Task { await cluster.stop() } }
        let alice = try await TestUser.register("alice", on: cluster.nodes[0])
        let bob = try await TestUser.register("bob", on: cluster.nodes[1])
        var a = try await alice.connectIdle()
        let ids = (0..<400).map { "m\($0)" }
        var acked = Set<String>()
        var refused = Set<String>()
        for id in ids { a.send(id: id, to: "bob", text: "burst \(id)") }
        var crashed = false
        while acked.count + refused.count < ids.count {
            guard let frame = try? await a.next(timeout: .seconds(20)) else { break }
            switch frame {
            case .ack(let id): acked.insert(id)
            case .error(let error) where error.ref != nil: refused.insert(error.ref!)
            default: break
            }
            if !crashed, acked.count >= 50 {
                crashed = true
                try await cluster.postgres.crashAndRestart()
            }
        }
        #expect(crashed)
        let ackedBeforeRetry = acked
        // The client's outbox: whatever was not acknowledged goes again, on a new connection if need be.
        var pending = ids.filter { !acked.contains($0) }
        var attempts = 0
        while !pending.isEmpty, attempts < 20 {
            attempts += 1
            await a.close()
            guard let fresh = try? await alice.connect(to: cluster.nodes[attempts % 2]) else {
                try await Task.sleep(for: .milliseconds(300))
                continue
            }
            a = fresh
            for id in pending { a.send(id: id, to: "bob", text: "burst \(id)") }
            var answered = 0
            while answered < pending.count, let frame = try? await a.next(timeout: .seconds(10)) {
                switch frame {
                case .ack(let id): acked.insert(id); answered += 1
                case .error(let error) where error.ref != nil: answered += 1
                default: break
                }
            }
            pending = ids.filter { !acked.contains($0) }
        }
        #expect(pending.isEmpty, "\(pending.count) never acknowledged")
        let b = try await bob.connect()
        let messages = try await b.receiveMessages(count: ids.count, confirm: true, timeout: .seconds(20))
        let got = messages.map(\.id)
        #expect(Set(got).count == got.count, "nothing twice")
        #expect(Set(got) == Set(ids), "missing \(Set(ids).subtracting(got).sorted().prefix(10))")
        #expect(ackedBeforeRetry.isSubset(of: Set(got)))
        // Those acknowledged before the crash came in the order they were sent.
        let firstAcked = got.filter { ackedBeforeRetry.contains($0) }
        #expect(firstAcked == ids.filter { ackedBeforeRetry.contains($0) })
        #expect(try await b.next() == .queueEmpty)
        await b.expectSilence()
        await a.close()
        await b.close()
    }

    /// The relay's shared state is one: a one-time prekey goes to one requester whichever node
    /// asks, one mailbox quota counts what every node stored, and one node sweeps what expired.
    @Test func prekeysQuotasAndExpiryAreSharedByTheNodes() async throws {
        let clock = TestClock()
        let cluster = try await Cluster.start(nodes: 2) {
            $0.quota = MailboxQuota(maxMessages: 5, maxBytes: 1_000_000, maxMessagesPerSender: 5)
            $0.ttlMillis = 60_000
            $0.now = { clock.now }
        }
        defer { Task { await cluster.stop() } }
        let (storeA, storeB) = (cluster.nodes[0].relay.store, cluster.nodes[1].relay.store)
        let alice = try await TestUser.register("alice", on: cluster.nodes[0])
        let carol = try await TestUser.register("carol", on: cluster.nodes[1])
        _ = try await TestUser.register("bob", on: cluster.nodes[0])

        let oneTime = (1...3).map { OneTimePrekeyRecord(id: UInt32($0), key: Data(repeating: UInt8($0), count: 32)) }
        _ = try await storeA.storePrekeys(user: "bob", signed: nil, oneTime: oneTime, replacingOneTime: false, limit: 100, now: clock.now)
        var handedOut: [UInt32] = []
        try await withThrowingTaskGroup(of: UInt32?.self) { group in
            for store in [storeA, storeB, storeA, storeB, storeA, storeB] {
                group.addTask { try await store.takePrekeyBundle(user: "bob", takingOneTime: true).oneTime?.id }
            }
            for try await id in group { if let id { handedOut.append(id) } }
        }
        #expect(handedOut.sorted() == [1, 2, 3], "each one-time prekey once, whichever node asked")

        let a = try await alice.connect(to: cluster.nodes[0])
        let c = try await carol.connect(to: cluster.nodes[1])
        _ = try await a.next()
        _ = try await c.next()
        for i in 0..<3 { a.send(id: "a\(i)", to: "bob", text: "from alice") }
        for i in 0..<3 { try await a.expectAck("a\(i)") }
        for i in 0..<3 { c.send(id: "c\(i)", to: "bob", text: "from carol") }
        try await c.expectAck("c0")
        try await c.expectAck("c1")
        #expect(try await c.expectError(.mailboxFull).ref == "c2", "bob's mailbox holds 5, whichever node stored them")

        clock.advance(by: 61_000)
        async let sweptA = storeA.expire(now: clock.now, receiptExpiresAt: clock.now + 60_000)
        async let sweptB = storeB.expire(now: clock.now, receiptExpiresAt: clock.now + 60_000)
        let (outcomeA, outcomeB) = try await (sweptA, sweptB)
        #expect(outcomeA.expiredMessages + outcomeB.expiredMessages == 5, "swept once")
        let again = try await (storeA.expire(now: clock.now, receiptExpiresAt: clock.now + 60_000))
        #expect(again.expiredMessages == 0)
        #expect(try await storeB.stats().pendingMessages == 0)
        await a.close()
        await c.close()
    }

    /// A group whose members are on three nodes: the events and every copy reach each of them.
    @Test func groupsWorkAcrossNodes() async throws {
        let cluster = try await Cluster.start(nodes: 3)
        defer { Task { await cluster.stop() } }
        let alice = try await TestUser.register("alice", on: cluster.nodes[0])
        let bob = try await TestUser.register("bob", on: cluster.nodes[1])
        let carol = try await TestUser.register("carol", on: cluster.nodes[2])
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        let c = try await carol.connectIdle()
        a.send(.groupCreate(.init(id: "g", group: "team", title: "Squadra 🇮🇹", members: ["bob", "carol"])))
        #expect(try await a.nextNonEvent() == .ack(id: "g"))
        for client in [b, c] {
            guard case .groupEvent(let event) = try await client.next() else { Issue.record("no event across nodes"); return }
            #expect(event.action == .create && event.members == ["alice", "bob", "carol"] && event.title == "Squadra 🇮🇹")
            client.send(.confirm(.init(ids: [event.id])))
        }
        for n in 1...5 {
            a.send(.groupSend(.init(id: "s\(n)", group: "team", copies: ["bob", "carol"].map { .init(to: $0, body: Data("ciao \(n) \($0)".utf8)) })))
        }
        for n in 1...5 { #expect(try await a.nextNonEvent() == .ack(id: "s\(n)")) }
        for (client, name) in [(b, "bob"), (c, "carol")] {
            let messages = try await client.receiveMessages(count: 5, confirm: true)
            #expect(messages.map(\.id) == (1...5).map { "s\($0)" })
            #expect(messages.allSatisfy { $0.group == "team" && $0.body == Data("ciao \($0.id.dropFirst()) \(name)".utf8) })
        }
        // A send with the old membership after a change on another node is refused.
        b.send(.groupUpdate(.init(id: "leave", group: "team", action: .leave)))
        #expect(try await b.nextNonEvent() == .ack(id: "leave"))
        a.send(.groupSend(.init(id: "s6", group: "team", copies: ["bob", "carol"].map { .init(to: $0, body: Data("late".utf8)) })))
        var refusal = try await a.nextNonEvent()
        while case .receipt = refusal { refusal = try await a.nextNonEvent() }
        // The refusal comes with the membership to encrypt for.
        guard case .groupInfo(let current) = refusal else { Issue.record("expected the current members, got \(refusal.encoded())"); return }
        #expect(current.members == ["alice", "carol"] && current.version == 2)
        #expect(try await a.nextNonEvent() == .error(FrameError(.membershipChanged, "the members of #team changed; encrypt for the current members and send again", ref: "s6")))
        await a.close(); await b.close(); await c.close()
    }

    /// Presence and typing are never stored, and still reach a contact on another node.
    @Test func presenceAndTypingReachContactsOnOtherNodes() async throws {
        let cluster = try await Cluster.start(nodes: 2)
        defer { Task { await cluster.stop() } }
        let alice = try await TestUser.register("alice", on: cluster.nodes[0])
        let bob = try await TestUser.register("bob", on: cluster.nodes[1])
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        a.send(id: "m1", to: "bob", text: "hi")
        try await a.expectAck("m1")
        _ = try await b.receiveMessages(count: 1, confirm: true)
        b.send(id: "r1", to: "alice", text: "hi")
        try await b.expectAck("r1")
        var aliceSawBob = false
        while !aliceSawBob {
            if case .presence(let p) = try await a.next(includeEphemeral: true), p.user == "bob", p.online { aliceSawBob = true }
        }
        b.send(.typing(.init(to: "alice")))
        var sawTyping = false
        while !sawTyping {
            if case .typing(let from) = try await a.next(includeEphemeral: true) { sawTyping = from == "bob" }
        }
        await b.close()
        var sawOffline = false
        while !sawOffline {
            if case .presence(let p) = try await a.next(includeEphemeral: true), p.user == "bob", !p.online { sawOffline = true }
        }
        // A login on the other node lists the peer connected elsewhere as online.
        let again = try await bob.connect(to: cluster.nodes[1])
        let later = try await alice.connect(to: cluster.nodes[0])
        var listed: RelayFrame.Presence?
        while listed == nil {
            if case .presence(let p) = try await later.next(includeEphemeral: true), p.user == "bob" { listed = p }
        }
        #expect(listed?.online == true)
        await again.close()
        await later.close()
        await a.close()
    }
}
