import Foundation
import ParlaClient
@testable import ParlaTUI
import Testing

/// Replying to, editing, deleting and reacting to the message selected with Ctrl-Up, and how
/// edited, deleted and reacted-to messages look.
@Suite struct MessageActionsUITests {
    @Test func theSelectedMessageIsWhatReplyEditReactAndDeleteActOn() {
        var state = GroupUITests.groupState
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/reply sure").isEmpty && state.notice?.contains("select it with Ctrl-Up first") == true, "nothing selected: no guess")
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        #expect(state.highlighted == 4 && state.notice == Reducer.selectionHint, "selecting says what can be done")
        #expect(run("/reply on my way") == [.reply(text: "on my way", to: "#team", replyTo: "t4")])
        #expect(state.highlighted == nil, "done with the selection")

        // React: the selected message, else the newest from someone else; empty takes it back.
        #expect(run("/react 👍") == [.changeMessage(chat: "#team", id: "t4", .react("👍"))])
        state.highlighted = 3
        #expect(run("/react") == [.changeMessage(chat: "#team", id: "t3", .react(""))])

        // Edit: only one's own; no text puts the old one in the input line to change.
        state.highlighted = 3
        #expect(run("/edit hi everyone").isEmpty && state.notice == "only your own messages can be edited")
        state.highlighted = nil
        _ = run("/edit")
        #expect(state.editor.text == "/edit on it" && state.highlighted == 5, "the newest of one's own")
        state.editor.replace(with: "/edit on it now")
        #expect(ReducerTests.remembered("/edit on it now", Reducer.reduce(&state, .key(.enter))) == [.changeMessage(chat: "#team", id: "t5", .edit("on it now"))])

        // Delete: the selected one here; "everyone" only for one's own.
        #expect(run("/delete everyone").isEmpty && state.notice?.contains("select it with Ctrl-Up first") == true)
        state.highlighted = 3
        #expect(run("/delete everyone").isEmpty && state.notice?.contains("only your own messages") == true)
        state.highlighted = 3
        #expect(run("/delete") == [.changeMessage(chat: "#team", id: "t3", .delete(everyone: false))])
        state.highlighted = 2
        #expect(run("/delete everyone") == [.changeMessage(chat: "#team", id: "t2", .delete(everyone: true))])
        state.highlighted = 2
        #expect(run("/delete all").isEmpty && state.notice?.hasPrefix("usage: /delete") == true)

        // Deleted here, it leaves the conversation; deleted for everyone, it stays, marked.
        var gone = state.conversation[2]
        gone.deleted = .me
        _ = Reducer.reduce(&state, .engine(.messageUpdated(gone)))
        #expect(!state.conversation.contains { $0.id == "t3" })
        var deleted = state.conversation[1]
        deleted.deleted = .everyone
        deleted.text = ""
        #expect(Reducer.reduce(&state, .engine(.messageUpdated(deleted))).contains(.loadReactions(chat: "#team")), "an update reads the reactions again")
        #expect(state.conversation.contains { $0.id == "t2" && $0.deleted == .everyone })
    }

    @Test func editedDeletedAndReactedToMessagesAreMarked() {
        var state = GroupUITests.groupState
        state.conversation[2].text = "hi all!"
        state.conversation[2].editedAt = Fixture.base.addingTimeInterval(200)
        state.conversation[3].deleted = .everyone
        state.conversation[3].text = ""
        state.conversation.append(MessageRecord(localID: 6, id: "t6", chat: "#team", from: "bob", to: "#team", text: "agreed", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(300), replyTo: "t4"))
        _ = Reducer.reduce(&state, .reactionsLoaded(chat: "#team", reactions: ["t5": ["👍": ["bob", "carol"], "❤️": ["alice"]], "t4": ["😂": ["bob"]]]))
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: .default)
        let rows = (0..<screen.height).map(screen.row)
        #expect(rows.contains { $0.contains("hi all! (edited)") }, "\(screen.text)")
        #expect(rows.contains { $0.contains("carol 🚫 message deleted") })
        #expect(!rows.contains { $0.contains("😂") }, "a deleted message's reactions are gone with it")
        #expect(rows.contains { $0.contains("↪ carol: 🚫 message deleted") }, "a reply to it says so")
        let onIt = try? #require(rows.firstIndex { $0.contains("on it") })
        if let onIt { #expect(rows[onIt + 1].contains("👍 2  ❤️ you"), "\(rows[onIt + 1])") }
        _ = Reducer.reduce(&state, .reactionsLoaded(chat: "bob", reactions: [:]))
        #expect(!state.reactions.isEmpty, "another chat's reactions are not this one's")
        var plain = Theme.default
        plain.ascii = true
        let ascii = Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: plain).text
        #expect(ascii.contains("(message deleted)") && ascii.contains("? 2  ? you"))
    }

    @Test func timerSetsDisappearingMessagesAndTheHeaderShowsIt() {
        var state = GroupUITests.groupState
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/timer 1h") == [.setTimer(chat: "#team", seconds: 3600)])
        #expect(run("/timer off") == [.setTimer(chat: "#team", seconds: nil)])
        #expect(run("/timer soon").isEmpty && state.notice?.contains("is not a timer") == true)
        #expect(run("/timer 2s").isEmpty, "too short to be read")
        #expect(run("/timer").isEmpty && state.notice?.hasPrefix("messages here do not disappear") == true)
        state.chats[0].timer = 86_400
        #expect(run("/timer").isEmpty && state.notice?.hasPrefix("messages here disappear after 1 day") == true)
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: .default)
        #expect(screen.row(0).contains("⏱ 1d"), "\(screen.row(0))")
        // A message whose time is up leaves the conversation.
        var gone = state.conversation[2]
        gone.deleted = .me
        gone.text = ""
        _ = Reducer.reduce(&state, .engine(.messageUpdated(gone)))
        #expect(!state.conversation.contains { $0.localID == gone.localID })
    }

    @Test func filesAreSentWithFileShownWithTheirProgressAndSaved() throws {
        var state = GroupUITests.groupState
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/file /tmp/report.pdf the numbers") == [.sendFile(path: "/tmp/report.pdf", to: "#team", caption: "the numbers")])
        #expect(run("/file \"/tmp/my notes.txt\"") == [.sendFile(path: "/tmp/my notes.txt", to: "#team", caption: nil)])
        #expect(run("/file").isEmpty && state.notice?.hasPrefix("usage: /file PATH") == true)

        // Tab asks the runner for the directory; its answer completes like a name does.
        state.editor.replace(with: "/file /tmp/rep")
        #expect(Reducer.reduce(&state, .key(.tab)) == [.completePath(head: "/file ", partial: "/tmp/rep")])
        _ = Reducer.reduce(&state, .pathCompletions(head: "/file ", partial: "/tmp/rep", matches: ["/tmp/report.pdf"]))
        #expect(state.editor.text == "/file /tmp/report.pdf ", "one file: completed, ready for a caption")
        state.editor.replace(with: "/file ~/D")
        _ = Reducer.reduce(&state, .pathCompletions(head: "/file ", partial: "~/D", matches: ["~/Documents/", "~/Downloads/"]))
        #expect(state.editor.text == "/file ~/Do" && state.notice == "Documents/ Downloads/")
        _ = Reducer.reduce(&state, .pathCompletions(head: "/file ", partial: "~/D", matches: ["~/Desktop/"]))
        #expect(state.editor.text == "/file ~/Do", "an answer for what is no longer typed is dropped")

        state.conversation.append(MessageRecord(localID: 6, id: "t6", chat: "#team", from: "bob", to: "#team", text: "the numbers", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(300),
                                                attachment: Attachment(blob: "b", name: "report.pdf", size: 2_500_000, sha256: "", state: .pending)))
        _ = Reducer.reduce(&state, .engine(.transfer(TransferProgress(messageID: "t6", chat: "#team", bytes: 1_125_000, total: 2_500_000, upload: false))))
        var rows = (0..<24).map(Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: .default).row)
        #expect(rows.contains { $0.contains("bob   📎 report.pdf · 2.4 MiB · ↓ 45%") }, "\(rows)")
        #expect(rows.contains { $0.contains("the numbers") })
        state.conversation[5].attachment?.state = .downloaded
        _ = Reducer.reduce(&state, .engine(.transfer(TransferProgress(messageID: "t6", chat: "#team", bytes: 2_500_000, total: 2_500_000, upload: false))))
        rows = (0..<24).map(Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: .default).row)
        #expect(rows.contains { $0.contains("📎 report.pdf · 2.4 MiB · /save keeps a copy") })
        #expect(run("/save ~/Downloads") == [.saveFile(chat: "#team", id: "t6", directory: "~/Downloads")], "the newest file")
        var plain = Theme.default
        plain.ascii = true
        #expect(Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: plain).text.contains("[file] report.pdf · 2.4 MiB"))
    }
}
