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
    }
}
