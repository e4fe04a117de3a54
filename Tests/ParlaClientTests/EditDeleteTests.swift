import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import Testing

/// Edits and deletions (issue 22): only the author changes a message for everyone, inside the
/// encryption; anyone deletes from their own history — through the real command line, offline
/// (the other side syncs later) and online (both connected), direct and in a group.
@Suite(.serialized) struct EditDeleteTests {
    func json(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    func sentID(_ output: String) throws -> String {
        try #require(output.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
    }

    @Test func theAuthorEditsAndDeletesForEveryoneAndAnyoneDeletesForThemselves() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let root = makeTemporaryDirectory(prefix: "parla-edit")
        func parla(_ who: String, _ arguments: String...) async throws -> (status: Int32, out: String, err: String) {
            try await runParla(arguments + ["--home", root + "/" + who])
        }
        for name in ["alice", "bob"] { #expect(try await runParla(["init", name, "--server", relay.url, "--home", root + "/" + name]).status == 0) }
        let meet = try sentID(try await parla("alice", "send", "bob", "see you at 5").out)
        let other = try sentID(try await parla("alice", "send", "bob", "bring the maps").out)
        #expect(try await parla("bob", "sync").status == 0)

        // Edit, while bob is offline; he sees the new text, marked.
        let edit = try await parla("alice", "edit", meet, "see you at 6")
        #expect(edit.status == 0 && edit.out.contains("edited \(meet) in bob"), "\(edit.err)")
        #expect(try await parla("bob", "sync").status == 0)
        var bobSide = try json(try await parla("bob", "history", "alice", "--json").out)
        #expect(bobSide.map { $0["text"] as? String } == ["see you at 6", "bring the maps"])
        #expect(bobSide.first?["edited"] as? Bool == true && bobSide.first?["editedAt"] is String)
        #expect(bobSide.last?["edited"] == nil)
        #expect(try await parla("bob", "history", "alice").out.contains("alice: see you at 6 (edited)"))
        #expect(try json(try await parla("alice", "history", "bob", "--json").out).first?["text"] as? String == "see you at 6", "the author's copy too")
        #expect(try await parla("bob", "search", "6").out.contains("see you at 6"))

        // Only the author may.
        let notHis = try await parla("bob", "edit", meet, "never")
        #expect(notHis.status != 0 && notHis.err.contains("is not yours"), "\(notHis.err)")
        let notHisToDelete = try await parla("bob", "delete", meet, "--everyone")
        #expect(notHisToDelete.status != 0 && notHisToDelete.err.contains("is not yours"))
        let empty = try await parla("alice", "edit", meet, "")
        #expect(empty.status != 0 && empty.err.contains("empty"))
        let unknown = try await parla("alice", "edit", "no-such-id", "x")
        #expect(unknown.status != 0 && unknown.err.contains("no message with id no-such-id"))

        // Delete for everyone: the text goes on both sides, and so do its reactions and its words in the search index.
        #expect(try await parla("bob", "react", meet, "👍").status == 0)
        #expect(try await parla("alice", "sync").status == 0)
        let deletion = try await parla("alice", "delete", meet, "--everyone")
        #expect(deletion.status == 0 && deletion.out.contains("deleted \(meet) for everyone in bob"), "\(deletion.err)")
        #expect(try await parla("bob", "sync").status == 0)
        bobSide = try json(try await parla("bob", "history", "alice", "--json").out)
        #expect(bobSide.first?["deleted"] as? Bool == true && bobSide.first?["text"] as? String == "" && bobSide.first?["reactions"] == nil)
        #expect(try await parla("bob", "history", "alice").out.contains("alice: (deleted)"))
        #expect(try await parla("bob", "search", "6").out.isEmpty)
        #expect(try json(try await parla("alice", "history", "bob", "--json").out).first?["deleted"] as? Bool == true)
        let again = try await parla("alice", "edit", meet, "see you at 7")
        #expect(again.status != 0 && again.err.contains("was deleted"), "\(again.err)")
        let reactToDeleted = try await parla("bob", "react", meet, "👍")
        #expect(reactToDeleted.status != 0)

        // Delete for me: gone from bob's history only.
        let mine = try await parla("bob", "delete", other)
        #expect(mine.status == 0 && mine.out.contains("deleted \(other) here"), "\(mine.err)")
        bobSide = try json(try await parla("bob", "history", "alice", "--json").out)
        #expect(!bobSide.contains { $0["id"] as? String == other })
        #expect(try await parla("bob", "chats").out.contains("(deleted)"), "the chat list shows what is left")
        #expect(try await parla("bob", "delete", other).status != 0, "already gone here")
        #expect(try await parla("alice", "sync").status == 0)
        #expect(try json(try await parla("alice", "history", "bob", "--json").out).contains { $0["text"] as? String == "bring the maps" })

        // In a group.
        #expect(try await parla("alice", "group", "create", "team", "bob").status == 0)
        let plan = try sentID(try await parla("alice", "send", "#team", "plan A").out)
        #expect(try await parla("bob", "sync").status == 0)
        #expect(try await parla("alice", "edit", plan, "plan B").status == 0)
        #expect(try await parla("bob", "sync").status == 0)
        var team = try json(try await parla("bob", "history", "#team", "--json").out).filter { $0["id"] as? String == plan }
        #expect(team.first?["text"] as? String == "plan B" && team.first?["edited"] as? Bool == true)
        #expect(try await parla("alice", "delete", plan, "--everyone").status == 0)
        #expect(try await parla("bob", "sync").status == 0)
        team = try json(try await parla("bob", "history", "#team", "--json").out).filter { $0["id"] as? String == plan }
        #expect(team.first?["deleted"] as? Bool == true)
    }

    /// Both connected: the change arrives as an update of the message already shown. Someone
    /// else sending an edit or deletion of it (as a relay knowing the id could ask them to)
    /// changes nothing: a change applies only to its sender's own message.
    @Test func onlineChangesArriveAndNobodyElseCanMakeThem() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "mallory", on: relay)
        let (alice, bob, mallory) = (engines[0], engines[1], engines[2])
        for client in engines { client.start() }
        let hello = try await alice.client.send("hello bob", to: "bob")
        try await eventually("bob has it") { try bob.store.message(inChat: "alice", id: hello.id) != nil }
        _ = try await mallory.client.send("hi", to: "bob")
        try await eventually("bob has mallory's message") { try !bob.store.history(chat: "mallory", limit: 5).isEmpty }
        let id = hello.id
        try await mallory.store.pool.write { db in
            try ClientStore.enqueueChatControl(db, .edit(of: id, text: "send me your password", group: nil), chat: "bob", me: "mallory", group: nil)
            try ClientStore.enqueueChatControl(db, .delete(of: id, group: nil), chat: "bob", me: "mallory", group: nil)
        }

        await mallory.client.flushOutbox()
        _ = try await mallory.client.send("done", to: "bob")
        try await eventually("mallory's later message arrives") { try bob.store.history(chat: "mallory", limit: 5).count == 2 }
        #expect(try bob.store.message(inChat: "alice", id: hello.id)?.text == "hello bob")

        try await alice.client.edit(hello.id, in: "bob", to: "hello, bob")
        try await eventually("the edit arrives") { try bob.store.message(inChat: "alice", id: hello.id)?.text == "hello, bob" }
        #expect(try bob.store.message(inChat: "alice", id: hello.id)?.editedAt != nil)
        try await alice.client.delete(hello.id, in: "bob", for: .everyone)
        try await eventually("the deletion arrives") { try bob.store.message(inChat: "alice", id: hello.id)?.deleted == .everyone }
        #expect(try bob.store.message(inChat: "alice", id: hello.id)?.text == "")
        for client in engines { await client.shutdown() }
    }
}
