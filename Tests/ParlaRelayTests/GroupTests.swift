import Foundation
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Groups on the relay: membership rules, events stored and forwarded to everyone
/// concerned, and group sends checked against the membership and stored whole.
@Suite(.serialized) struct GroupTests {
    func groupSend(_ client: RelayTestClient, id: String, group: String, to members: [String], text: String) {
        client.send(.groupSend(.init(id: id, group: group, copies: members.map { .init(to: $0, body: Data("\(text) for \($0)".utf8)) })))
    }

    /// The next frame that is not a group event (events are checked where they matter).
    func nextNonEvent(_ client: RelayTestClient) async throws -> RelayFrame {
        try await client.nextNonEvent()
    }

    @Test(arguments: StoreKind.allCases) func threeMembersOneOfflineGetsEverythingInOrderAndEventsToo(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let carol = try await TestUser.register("carol", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()

        a.send(.groupCreate(.init(id: "c1", group: "team", title: "The team", members: ["bob", "carol"])))
        #expect(try await nextNonEvent(a) == .ack(id: "c1"))
        guard case .groupEvent(let created) = try await b.next() else { Issue.record("bob saw no event"); return }
        #expect(created.action == .create && created.actor == "alice" && created.members == ["alice", "bob", "carol"] && created.admins == ["alice"])
        #expect(created.title == "The team" && created.subjects == ["bob", "carol"])
        b.send(.confirm(.init(ids: [created.id])))

        for n in 1...5 { groupSend(a, id: "g\(n)", group: "team", to: ["bob", "carol"], text: "hello \(n)") }
        for n in 1...5 { #expect(try await nextNonEvent(a) == .ack(id: "g\(n)")) }
        for n in 1...5 {
            guard case .message(let message) = try await b.next() else { Issue.record("no copy"); return }
            #expect(message.id == "g\(n)" && message.group == "team" && message.from == "alice" && message.body == Data("hello \(n) for bob".utf8))
        }

        // Carol was offline throughout: the creation event first, then every message in order.
        let c = try await carol.connect()
        guard case .groupEvent(let event) = try await c.next() else { Issue.record("carol saw no event"); return }
        #expect(event.action == .create)
        let messages = try await c.receiveMessages(count: 5, confirm: true)
        #expect(messages.map(\.id) == ["g1", "g2", "g3", "g4", "g5"])
        #expect(messages.allSatisfy { $0.group == "team" })
        await a.close(); await b.close(); await c.close()
    }

    @Test(arguments: StoreKind.allCases) func aRemovedMemberGetsNothingNewAndCannotSendANewMemberOnlyWhatFollows(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let carol = try await TestUser.register("carol", on: relay)
        let dave = try await TestUser.register("dave", on: relay)
        let a = try await alice.connectIdle()
        a.send(.groupCreate(.init(id: "c1", group: "team", title: "Team", members: ["bob", "carol"])))
        #expect(try await nextNonEvent(a) == .ack(id: "c1"))
        groupSend(a, id: "before", group: "team", to: ["bob", "carol"], text: "before")
        #expect(try await nextNonEvent(a) == .ack(id: "before"))

        a.send(.groupUpdate(.init(id: "u1", group: "team", action: .remove, members: ["bob"])))
        #expect(try await nextNonEvent(a) == .ack(id: "u1"))
        a.send(.groupUpdate(.init(id: "u2", group: "team", action: .add, members: ["dave"])))
        #expect(try await nextNonEvent(a) == .ack(id: "u2"))
        groupSend(a, id: "after", group: "team", to: ["carol", "dave"], text: "after")
        #expect(try await nextNonEvent(a) == .ack(id: "after"))

        // Bob: the message from before his removal, then the removal event; nothing after.
        let b = try await bob.connect()
        var bobSaw: [String] = []
        while true {
            let frame = try await b.next()
            switch frame {
            case .groupEvent(let event): bobSaw.append("event:\(event.action.rawValue)"); b.send(.confirm(.init(ids: [event.id])))
            case .message(let message): bobSaw.append(message.id); b.send(.confirm(.init(ids: [message.id])))
            case .queueEmpty: break
            default: continue
            }
            if frame == .queueEmpty { break }
        }
        #expect(bobSaw == ["event:create", "before", "event:remove"], "\(bobSaw)")
        groupSend(b, id: "sneaky", group: "team", to: ["alice", "carol", "dave"], text: "let me in")
        #expect(try await nextNonEvent(b).encoded().contains("not_member"))

        // Dave: the add event and only what followed it.
        let d = try await dave.connect()
        var daveSaw: [String] = []
        while true {
            let frame = try await d.next()
            if case .groupEvent(let event) = frame { daveSaw.append("event:\(event.action.rawValue)"); d.send(.confirm(.init(ids: [event.id]))) }
            if case .message(let message) = frame { daveSaw.append(message.id); d.send(.confirm(.init(ids: [message.id]))) }
            if frame == .queueEmpty { break }
        }
        #expect(daveSaw == ["event:add", "after"], "\(daveSaw)")
        await a.close(); await b.close(); await d.close()
    }

    @Test(arguments: StoreKind.allCases) func aSendRacingAMembershipChangeIsRefusedWithTheCurrentMembers(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        _ = try await TestUser.register("carol", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        a.send(.groupCreate(.init(id: "c1", group: "team", title: "Team", members: ["bob"])))
        #expect(try await nextNonEvent(a) == .ack(id: "c1"))
        a.send(.groupUpdate(.init(id: "u1", group: "team", action: .add, members: ["carol"])))
        #expect(try await nextNonEvent(a) == .ack(id: "u1"))
        // Bob still thinks the group is alice and bob.
        groupSend(b, id: "stale", group: "team", to: ["alice"], text: "hi")
        var info: RelayFrame.GroupInfo?
        while info == nil {
            switch try await b.next() {
            case .groupInfo(let current): info = current
            case .groupEvent(let event): b.send(.confirm(.init(ids: [event.id])))
            case let other: Issue.record("unexpected \(other.encoded())"); return
            }
        }
        #expect(info?.members == ["alice", "bob", "carol"])
        #expect(try await nextNonEvent(b) == .error(FrameError(.membershipChanged, "the members of #team changed; encrypt for the current members and send again", ref: "stale")))
        // Retried for the current members: stored once; a repeat is only acknowledged again.
        groupSend(b, id: "stale", group: "team", to: ["alice", "carol"], text: "hi")
        #expect(try await nextNonEvent(b) == .ack(id: "stale"))
        groupSend(b, id: "stale", group: "team", to: ["alice", "carol"], text: "hi")
        #expect(try await nextNonEvent(b) == .ack(id: "stale"))
        #expect(try await relay.relay.store.stats().pendingMessages == 2, "one copy each for alice and carol")
        await a.close(); await b.close()
    }

    @Test(arguments: StoreKind.allCases) func onlyAdminsManageMembersErrorsAreClearAndEveryoneMayLeave(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.maxGroupMembers = 3 }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        for name in ["carol", "dave"] { _ = try await TestUser.register(name, on: relay) }
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        a.send(.groupCreate(.init(id: "c0", group: "big", title: "Big", members: ["bob", "carol", "dave"])))
        #expect(try await nextNonEvent(a).encoded().contains("group_full"))
        a.send(.groupCreate(.init(id: "c1", group: "team", title: "Team", members: ["bob", "nobody"])))
        #expect(try await nextNonEvent(a).encoded().contains("no user named 'nobody'"))
        a.send(.groupCreate(.init(id: "c2", group: "team", title: "Team", members: ["bob"])))
        #expect(try await nextNonEvent(a) == .ack(id: "c2"))
        a.send(.groupCreate(.init(id: "c3", group: "team", title: "Again", members: ["bob"])))
        #expect(try await nextNonEvent(a) == .error(FrameError(.groupExists, "a group named #team already exists", ref: "c3")))

        b.send(.groupUpdate(.init(id: "b1", group: "team", action: .add, members: ["carol"])))
        #expect(try await nextNonEvent(b) == .error(FrameError(.notAdmin, "only admins of #team can add members", ref: "b1")))
        b.send(.groupUpdate(.init(id: "b2", group: "team", action: .rename, title: "Mine")))
        #expect(try await nextNonEvent(b) == .error(FrameError(.notAdmin, "only admins of #team can rename it", ref: "b2")))
        b.send(.groupUpdate(.init(id: "b3", group: "nowhere", action: .leave)))
        #expect(try await nextNonEvent(b) == .error(FrameError(.unknownGroup, "no group named #nowhere", ref: "b3")))
        b.send(.groupUpdate(.init(id: "b4", group: "team", action: .rename, title: "bad\u{7}title")))
        #expect(try await nextNonEvent(b) == .error(FrameError(.badFrame, "a group title is 1-100 bytes of text without control characters", ref: "b4")))

        a.send(.groupUpdate(.init(id: "a1", group: "team", action: .rename, title: "Renamed")))
        #expect(try await nextNonEvent(a) == .ack(id: "a1"))
        // The only admin leaves: bob takes over, and is told so by the event.
        a.send(.groupUpdate(.init(id: "a2", group: "team", action: .leave)))
        #expect(try await nextNonEvent(a) == .ack(id: "a2"))
        var last: RelayFrame.GroupEvent?
        while last?.action != .leave {
            if case .groupEvent(let event) = try await b.next() { last = event; b.send(.confirm(.init(ids: [event.id]))) }
        }
        #expect(last?.members == ["bob"] && last?.admins == ["bob"] && last?.title == "Renamed")
        b.send(.groupInfo(group: "team"))
        #expect(try await nextNonEvent(b) == .groupInfo(.init(group: "team", title: "Renamed", members: ["bob"], admins: ["bob"], version: 3)))
        a.send(.groupInfo(group: "team"))
        #expect(try await nextNonEvent(a).encoded().contains("unknown_group"), "a former member sees nothing")
        await a.close(); await b.close()
    }

    @Test func theRelaysDatabaseNeverHoldsAGroupMessageAfterDelivery() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        a.send(.groupCreate(.init(id: "c1", group: "team", title: "Team", members: ["bob"])))
        #expect(try await nextNonEvent(a) == .ack(id: "c1"))
        let marker = "GROUPMARKER-\(UUID().uuidString)"
        groupSend(a, id: "m1", group: "team", to: ["bob"], text: marker)
        #expect(try await nextNonEvent(a) == .ack(id: "m1"))
        #expect(try relay.databaseFileBytes().range(of: Data(marker.utf8)) != nil, "stored until delivered")
        let b = try await bob.connect()
        var delivered = false
        while !delivered {
            switch try await b.next() {
            case .groupEvent(let event): b.send(.confirm(.init(ids: [event.id])))
            case .message(let message): b.send(.confirm(.init(ids: [message.id]))); delivered = true
            default: break
            }
        }
        #expect(try await nextNonEvent(a).encoded().contains("delivered"), "alice gets bob's delivered receipt")
        try await Task.sleep(for: .milliseconds(200))
        try await relay.relay.purgeDeletedData()
        #expect(try relay.databaseFileBytes().range(of: Data(marker.utf8)) == nil, "gone after delivery")
        await a.close(); await b.close()
    }

    /// A signed statement travels with its change, and the relay refuses one its members would
    /// reject, storing nothing: the sender hears why at once instead of a silent divergence.
    @Test(arguments: StoreKind.allCases) func signedStatementsAreCheckedStoredAndForwarded(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let carol = try await TestUser.register("carol", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        let keys = ["alice": alice.keys.signingPublic, "bob": bob.keys.signingPublic, "carol": carol.keys.signingPublic]
        let created = try GroupTransition.next(from: nil, group: "team", action: .create, actor: "alice", subjects: ["bob"], title: "Team", newKeys: keys).get()
        let signed = SignedGroupChange.sign(created, with: alice.keys)
        a.send(.groupCreate(.init(id: "c1", group: "team", title: "Team", members: ["bob"], change: signed)))
        #expect(try await nextNonEvent(a) == .ack(id: "c1"))
        guard case .groupEvent(let event) = try await b.next() else { Issue.record("bob saw no event"); return }
        #expect(event.change == signed)
        b.send(.confirm(.init(ids: [event.id])))

        func refusal(_ id: String, _ change: SignedGroupChange, subjects: [String] = ["carol"]) async throws -> String {
            a.send(.groupUpdate(.init(id: id, group: "team", action: .add, members: subjects, change: change)))
            return try await nextNonEvent(a).encoded()
        }
        let add = try GroupTransition.next(from: created, group: "team", action: .add, actor: "alice", subjects: ["carol"], title: nil, newKeys: keys).get()
        // Signed by bob's key in alice's name.
        #expect(try await refusal("u1", SignedGroupChange.sign(add, with: bob.keys)).contains("bad_signature"))
        // A key for carol that is not hers.
        var swapped = add
        swapped.members[2].key = bob.keys.signingPublic
        #expect(try await refusal("u2", SignedGroupChange.sign(swapped, with: alice.keys)).contains("not the one carol registered"))
        // A version that does not follow.
        var skipped = add
        skipped.version = 5
        #expect(try await refusal("u3", SignedGroupChange.sign(skipped, with: alice.keys)).contains("membership_changed"))
        // A statement of another change.
        #expect(try await refusal("u4", SignedGroupChange.sign(add, with: alice.keys), subjects: ["bob"]).contains("bad_frame"))
        b.send(.groupInfo(group: "team"))
        #expect(try await nextNonEvent(b) == .groupInfo(.init(group: "team", title: "Team", members: ["alice", "bob"], admins: ["alice"], version: 1, change: signed)))

        let good = SignedGroupChange.sign(add, with: alice.keys)
        a.send(.groupUpdate(.init(id: "u5", group: "team", action: .add, members: ["carol"], change: good)))
        #expect(try await nextNonEvent(a) == .ack(id: "u5"))
        b.send(.groupInfo(group: "team"))
        #expect(try await nextNonEvent(b) == .groupInfo(.init(group: "team", title: "Team", members: ["alice", "bob", "carol"], admins: ["alice"], version: 2, change: good)))
        await a.close(); await b.close()
    }
}
