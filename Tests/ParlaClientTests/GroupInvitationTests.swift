import Foundation
@testable import ParlaClient
import ParlaProtocol
import ParlaRelayTesting
import Testing

/// Someone you never wrote to cannot pull you into a group: their group is an invitation,
/// marked, silent, telling them nothing (no read receipts) until you accept; declining
/// leaves it and deletes it here.
@Suite(.serialized) struct GroupInvitationTests {
    func online(_ clients: [RunningClient]) async throws {
        for client in clients { client.start() }
        try await eventually("online") {
            for client in clients where await client.client.connectionState != .online { return false }
            return true
        }
    }

    @Test func aStrangersGroupIsAnInvitationUntilDeclinedAndLeavesNothingBehind() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("mallory", "bob", on: relay)
        let (mallory, bob) = (engines[0], engines[1])
        try await online(engines)
        try await mallory.client.createGroup("prizes", title: "You won", members: ["bob"])
        try await eventually("bob has the invitation") { try bob.store.invitation(to: "prizes") == "mallory" }
        #expect(try bob.store.chats().first { $0.name == "#prizes" }?.invitedBy == "mallory")
        #expect(try bob.store.history(chat: "#prizes", limit: 5).contains { $0.text.contains("whom you have never written to, put you in #prizes") })

        let spam = try await mallory.client.send("click here", to: "#prizes")
        try await eventually("stored on bob's side, nothing lost") { try bob.store.history(chat: "#prizes", limit: 10).contains { $0.text == "click here" } }
        try await bob.client.markRead(chat: "#prizes")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try mallory.store.message(id: spam.id)?.status == .delivered, "no read receipt for an invitation")

        // Bob may not send to it without joining; sending is joining — here he declines instead.
        try await bob.client.declineInvitation(to: "prizes")
        #expect(try bob.store.group("prizes") == nil)
        #expect(try bob.store.history(chat: "#prizes", limit: 10).isEmpty)
        #expect(try !bob.store.chats().contains { $0.name == "#prizes" })
        try await eventually("mallory sees bob leave") { try mallory.store.group("prizes")?.members == ["mallory"] }
        // The relay's news of bob's leaving reaches bob too: it must not bring the chat back.
        try await Task.sleep(for: .milliseconds(500))
        #expect(try !bob.store.chats().contains { $0.name == "#prizes" })
        #expect(try bob.store.history(chat: "#prizes", limit: 10).isEmpty)
        for client in engines { await client.shutdown() }
    }

    @Test func someoneYouWroteToAddsYouAtOnceAndAnAcceptedInvitationIsAChatLikeAnyOther() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "carol", on: relay)
        let (alice, bob, carol) = (engines[0], engines[1], engines[2])
        try await online(engines)
        _ = try await bob.client.send("hi alice", to: "alice")
        try await eventually("alice has it") { try !alice.store.history(chat: "bob", limit: 5).isEmpty }
        try await alice.client.createGroup("team", title: "Team", members: ["bob", "carol"])
        try await eventually("bob is in #team") { try bob.store.group("team") != nil }
        #expect(try bob.store.invitation(to: "team") == nil, "bob wrote to alice: no invitation")
        try await eventually("carol has an invitation") { try carol.store.invitation(to: "team") == "alice" }

        // Carol accepts (the command line's way), then her read receipts flow like anyone's.
        let hello = try await alice.client.send("hello team", to: "#team")
        try await eventually("carol has it") { try carol.store.history(chat: "#team", limit: 10).contains { $0.text == "hello team" } }
        try await carol.client.acceptInvitation(to: "team")
        #expect(try carol.store.invitation(to: "team") == nil)
        try await carol.client.markRead(chat: "#team")
        try await bob.client.markRead(chat: "#team")
        try await eventually("read by both") {
            let receipts = try alice.store.memberReceipts(messageID: hello.id)
            return receipts.count == 2 && receipts.allSatisfy(\.read)
        }
        await carol.shutdown()
        // The command line says there is nothing left to accept.
        let again = try await runParla(["group", "accept", "team", "--home", carol.client.profile.directory])
        #expect(again.status != 0 && again.err.contains("there is no invitation to #team"), "\(again.err)")
        for client in [alice, bob] { await client.shutdown() }
    }
}
