import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import Testing

/// Replies (issue 22): a message names the one it answers, inside the encryption, and both
/// sides keep the link — through the real command line, in a direct chat and in a group.
@Suite(.serialized) struct ReplyTests {
    func json(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test func aReplyNamesTheMessageItAnswersOnBothSidesDirectAndInAGroup() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let root = makeTemporaryDirectory(prefix: "parla-reply")
        for name in ["alice", "bob"] {
            #expect(try await runParla(["init", name, "--server", relay.url, "--home", root + "/" + name]).status == 0)
        }
        let lunch = try await runParla(["send", "bob", "lunch?", "--home", root + "/alice"])
        let lunchID = try #require(lunch.out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(try await runParla(["sync", "--home", root + "/bob"]).status == 0)

        let unknown = try await runParla(["send", "alice", "yes", "--reply-to", "no-such-id", "--home", root + "/bob"])
        #expect(unknown.status != 0 && unknown.err.contains("no message with id no-such-id in that chat"), "\(unknown.err)")
        let answer = try await runParla(["send", "alice", "yes, at 1", "--reply-to", lunchID, "--home", root + "/bob"])
        #expect(answer.status == 0, "\(answer.err)")
        #expect(try await runParla(["sync", "--home", root + "/alice"]).status == 0)

        let aliceSide = try json(try await runParla(["history", "bob", "--json", "--home", root + "/alice"]).out)
        #expect(aliceSide.map { $0["text"] as? String } == ["lunch?", "yes, at 1"])
        #expect(aliceSide.last?["replyTo"] as? String == lunchID)
        #expect(aliceSide.first?["replyTo"] == nil)
        let bobSide = try json(try await runParla(["history", "alice", "--json", "--home", root + "/bob"]).out)
        #expect(bobSide.last?["replyTo"] as? String == lunchID, "the sender's copy keeps the link too")
        let plain = try await runParla(["history", "bob", "--home", root + "/alice"]).out
        #expect(plain.contains("bob (reply to \(lunchID)): yes, at 1"), "\(plain)")

        // In a group (alice wrote to bob, so it is no invitation).
        #expect(try await runParla(["group", "create", "team", "bob", "--home", root + "/alice"]).status == 0)
        let question = try await runParla(["send", "#team", "who is in?", "--home", root + "/alice"])
        let questionID = try #require(question.out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(try await runParla(["sync", "--home", root + "/bob"]).status == 0)
        #expect(try await runParla(["send", "#team", "me", "--reply-to", questionID, "--home", root + "/bob"]).status == 0)
        #expect(try await runParla(["sync", "--home", root + "/alice"]).status == 0)
        let group = try json(try await runParla(["history", "#team", "--json", "--home", root + "/alice"]).out).filter { $0["from"] as? String == "bob" }
        #expect(group.map { $0["text"] as? String } == ["me"])
        #expect(group.first?["replyTo"] as? String == questionID)

        // Reactions: one per person, replaced, taken back; in a group too.
        func reactions(_ who: String, _ chat: String, _ id: String) async throws -> [String: [String]]? {
            try json(try await runParla(["history", chat, "--json", "--home", root + "/" + who]).out).first { $0["id"] as? String == id }?["reactions"] as? [String: [String]]
        }
        #expect(try await runParla(["react", lunchID, "👍", "--home", root + "/bob"]).out.contains("reacted 👍 in alice"))
        #expect(try await runParla(["sync", "--home", root + "/alice"]).status == 0)
        #expect(try await reactions("alice", "bob", lunchID) == ["👍": ["bob"]])
        #expect(try await reactions("bob", "alice", lunchID) == ["👍": ["bob"]], "the reactor's own copy")
        #expect(try await runParla(["react", lunchID, "❤️", "--home", root + "/bob"]).status == 0)
        #expect(try await runParla(["sync", "--home", root + "/alice"]).status == 0)
        #expect(try await reactions("alice", "bob", lunchID) == ["❤️": ["bob"]], "replaced, not added")
        #expect(try await runParla(["react", lunchID, "", "--home", root + "/bob"]).status == 0)
        #expect(try await runParla(["sync", "--home", root + "/alice"]).status == 0)
        #expect(try await reactions("alice", "bob", lunchID) == nil, "taken back")
        let tooLong = try await runParla(["react", lunchID, String(repeating: "👍", count: 9), "--home", root + "/bob"])
        #expect(tooLong.status != 0 && tooLong.err.contains("is not a reaction"), "\(tooLong.err)")
        let unknownID = try await runParla(["react", "nope", "👍", "--home", root + "/bob"])
        #expect(unknownID.status != 0 && unknownID.err.contains("no message with id nope"))
        let meID = try #require(group.first?["id"] as? String)
        #expect(try await runParla(["react", meID, "🎉", "--home", root + "/alice"]).status == 0)
        #expect(try await runParla(["sync", "--home", root + "/bob"]).status == 0)
        #expect(try await reactions("bob", "#team", meID) == ["🎉": ["alice"]])
        #expect(try await runParla(["history", "#team", "--home", root + "/bob"]).out.contains("🎉 alice"))
    }

    /// A reaction names a message by id: someone outside the chat cannot put one on it.
    @Test func aReactionFromOutsideTheChatChangesNothing() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "mallory", on: relay)
        let (alice, bob, mallory) = (engines[0], engines[1], engines[2])
        for client in engines { client.start() }
        let hello = try await alice.client.send("hello bob", to: "bob")
        try await eventually("bob has it") { try bob.store.message(inChat: "alice", id: hello.id) != nil }
        // Mallory knows the id (as a relay could) and reacts in her chat with alice.
        _ = try await mallory.client.send("hi", to: "alice")
        try await eventually("alice has mallory's message") { try !alice.store.history(chat: "mallory", limit: 5).isEmpty }
        try mallory.store.enqueueReaction(to: MessageRecord(localID: 0, id: hello.id, chat: "alice", from: "alice", to: "bob", text: "", status: .received,
                                                           failureReason: nil, sentAt: Date()), emoji: "💩", me: "mallory", group: nil, at: Date())
        await mallory.client.flushOutbox()
        try await bob.client.react(to: hello.id, in: "alice", with: "👍")
        try await eventually("bob's reaction arrives") { try alice.store.reactions(inChat: "bob")[hello.id] == ["👍": ["bob"]] }
        #expect(try alice.store.reactions(inChat: "bob")[hello.id]?["💩"] == nil)
        #expect(try alice.store.reactions(inChat: "mallory").isEmpty)
        for client in engines { await client.shutdown() }
    }
}
