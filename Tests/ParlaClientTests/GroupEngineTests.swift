import Foundation
import GRDB
@testable import ParlaClient
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Groups through real engines and a real relay: end-to-end encrypted copies, members
/// offline, aggregated ticks, membership changes and their races.
@Suite(.serialized) struct GroupEngineTests {
    func texts(_ client: RunningClient, chat: String = "#team") throws -> [String] {
        try client.store.history(chat: chat, limit: 100).filter { $0.from != ClientStore.systemSender }.map(\.text)
    }

    @Test func threeMembersOneOfflineEverythingArrivesInOrderAndTicksAggregate() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "carol", on: relay)
        let (alice, bob, carol) = (engines[0], engines[1], engines[2])
        alice.start()
        bob.start()
        try await eventually("online") { await alice.client.connectionState == .online }
        try await alice.client.createGroup("team", title: "The team", members: ["bob", "carol"])
        try await eventually("alice knows the group") { try alice.store.group("team")?.members == ["alice", "bob", "carol"] }

        let marker = "GROUP-\(UUID().uuidString)"
        var sent: [MessageRecord] = []
        for n in 1...3 { sent.append(try await alice.client.send("\(marker) \(n)", to: "#team")) }
        try await eventually("bob has all three, in order") { try texts(bob) == (1...3).map { "\(marker) \($0)" } }
        #expect(try relay.databaseFileBytes().range(of: Data(marker.utf8)) == nil, "the relay holds only ciphertext")
        try await eventually("sent, not delivered: carol is offline") { try alice.store.message(id: sent[2].id)?.status == .sent }
        try await eventually("bob's delivered receipt is in") {
            try alice.client.store.memberReceipts(messageID: sent[0].id).first { $0.member == "bob" }?.delivered == true
        }
        let detail = try alice.client.store.memberReceipts(messageID: sent[0].id)
        #expect(detail.map(\.member) == ["bob", "carol"] && detail.first { $0.member == "carol" }?.delivered == false)
        #expect(try alice.store.message(id: sent[0].id)?.status == .sent, "one member of two: still one tick")

        carol.start()
        try await eventually("carol gets the creation and every message in order") { try texts(carol) == (1...3).map { "\(marker) \($0)" } }
        #expect(try carol.store.history(chat: "#team", limit: 10).first?.text.contains("alice created #team") == true)
        try await eventually("delivered to everyone") { try sent.allSatisfy { try alice.store.message(id: $0.id)?.status == .delivered } }
        // Neither had written to alice: #team is an invitation, and reading it says nothing until accepted.
        try await bob.client.acceptInvitation(to: "team")
        try await carol.client.acceptInvitation(to: "team")
        try await bob.client.markRead(chat: "#team")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try alice.store.message(id: sent[0].id)?.status == .delivered, "read by bob only: not yet read")
        try await carol.client.markRead(chat: "#team")
        try await eventually("read by everyone") { try sent.allSatisfy { try alice.store.message(id: $0.id)?.status == .read } }

        // Replies from the others land in the same group chat, once each.
        _ = try await bob.client.send("bob here", to: "#team")
        try await eventually("alice and carol see bob") { try texts(alice).contains("bob here") && texts(carol).contains("bob here") }
        #expect(try alice.store.history(chat: "#team", limit: 50).filter { $0.text == "bob here" }.count == 1)
        await alice.shutdown(); await bob.shutdown(); await carol.shutdown()
    }

    @Test func removedMembersGetNothingNewNonAdminsAreRefusedAndStaleListsAreRetried() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "carol", on: relay)
        let (alice, bob, carol) = (engines[0], engines[1], engines[2])
        let dave = try TestProfiles.engine(for: try await TestProfiles.register("dave", url: relay.url))
        for client in [alice, bob, carol, dave] { client.start() }
        try await eventually("online") {
            let daveState = await dave.client.connectionState
            let aliceState = await alice.client.connectionState
            return daveState == .online && aliceState == .online
        }
        try await alice.client.createGroup("team", title: "Team", members: ["bob", "carol"])
        try await eventually("bob knows") { try bob.store.group("team") != nil }

        // Bob is not an admin: his own client will not sign the change.
        await #expect(throws: EngineError.groupChangeRefused("only admins of #team can add members")) {
            try await bob.client.updateGroup("team", .add, members: ["dave"])
        }
        // Bob writes while offline, and alice adds dave meanwhile: bob's message is for the members
        // he knows. The relay refuses it or his engine learns of dave first; either way it goes
        // again once the signed add reaches him, and dave gets it, once.
        await bob.stop()
        let raced = try await bob.client.send("after dave joined", to: "#team")
        try await alice.client.updateGroup("team", .add, members: ["dave"])
        #expect(try alice.store.group("team")?.members == ["alice", "bob", "carol", "dave"], "alice's own signed change applies at once")
        bob.start()
        try await eventually("everyone, dave included, got it once") {
            try [alice, carol, dave].allSatisfy { try texts($0).filter { $0 == "after dave joined" }.count == 1 }
        }
        try await eventually("delivered to all three recipients") { try bob.store.message(id: raced.id)?.status == .delivered }
        #expect(try bob.store.group("team")?.version == 2)
        #expect(try dave.store.history(chat: "#team", limit: 10).map(\.text).contains { $0.contains("alice added you") })

        // Bob is removed: nothing new reaches him and he cannot send.
        try await alice.client.updateGroup("team", .remove, members: ["bob"])
        try await eventually("bob knows he is out") { try bob.store.group("team")?.isMember == false }
        #expect(try bob.store.history(chat: "#team", limit: 20).contains { $0.text == "alice removed you" })
        _ = try await alice.client.send("without bob", to: "#team")
        try await eventually("carol got it") { try texts(carol).contains("without bob") }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try !texts(bob).contains("without bob"))
        await #expect(throws: EngineError.notGroupMember("team")) { try await bob.client.send("let me back", to: "#team") }
        for client in [alice, bob, carol, dave] { await client.shutdown() }
    }

    /// The relay puts mallory into #team behind everyone's back (its own table, as whoever runs
    /// it could): bob's message is never encrypted to her, waits, and says why; once the relay's
    /// list is the signed one again, the next signed change lets it go.
    @Test func aMemberTheRelayAddsOnItsOwnIsNeverSentAMessage() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "mallory", on: relay)
        let (alice, bob, mallory) = (engines[0], engines[1], engines[2])
        for client in engines { client.start() }
        try await eventually("online") {
            let states = [await alice.client.connectionState, await bob.client.connectionState, await mallory.client.connectionState]
            return states.allSatisfy { $0 == .online }
        }
        try await alice.client.createGroup("team", title: "Team", members: ["bob"])
        try await eventually("bob knows") { try bob.store.group("team")?.version == 1 }

        let database = try DatabaseQueue(path: relay.databasePath)
        try await database.write { db in
            try db.execute(sql: "INSERT INTO group_members (grp, member, admin, since) VALUES ('team', 'mallory', 0, 9999999999999)")
        }
        let message = try await bob.client.send("for alice only", to: "#team")
        try await eventually("bob is told why it waits") {
            try bob.store.history(chat: "#team", limit: 5).contains { $0.text.contains("adds mallory without a change signed by an admin") }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try bob.store.message(id: message.id)?.status == .queued)
        #expect(try bob.store.group("team")?.members == ["alice", "bob"])
        #expect(try texts(mallory).isEmpty && texts(alice).isEmpty)

        try await database.write { db in try db.execute(sql: "DELETE FROM group_members WHERE grp = 'team' AND member = 'mallory'") }
        try await alice.client.updateGroup("team", .rename, title: "Team, signed")
        try await eventually("the signed rename releases it to alice, once") { try texts(alice) == ["for alice only"] }
        try await eventually("delivered") { try bob.store.message(id: message.id)?.status == .delivered }
        #expect(try texts(mallory).isEmpty)
        for client in engines { await client.shutdown() }
    }
}
