import Foundation
import ParlaClient
@testable import ParlaTUI
import Testing

/// Compares a rendered screen with its checked-in text. `PARLA_RECORD_SNAPSHOTS=1`
/// rewrites the files; a missing file is written and reported as a failure.
func assertSnapshot(_ screen: ScreenBuffer, named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("__Snapshots__")
    let file = directory.appendingPathComponent(name + ".txt")
    let actual = screen.text + "\n"
    let record = ProcessInfo.processInfo.environment["PARLA_RECORD_SNAPSHOTS"] == "1"
    if record || !FileManager.default.fileExists(atPath: file.path) {
        try actual.write(to: file, atomically: true, encoding: .utf8)
        if !record { Issue.record("recorded new snapshot \(name); check it and run again", sourceLocation: sourceLocation) }
        return
    }
    let expected = try String(contentsOf: file, encoding: .utf8)
    #expect(actual == expected, "snapshot \(name) differs:\n\(actual)", sourceLocation: sourceLocation)
}

enum Fixture {
    static let utc = TimeZone(identifier: "UTC")!
    static let base = Date(timeIntervalSince1970: 1_796_000_000) // a fixed day

    static func message(_ n: Int64, from: String, to: String, _ text: String, _ status: MessageStatus, minutes: Double, reason: String? = nil) -> MessageRecord {
        MessageRecord(localID: n, id: "m\(n)", chat: from == "alice" ? to : from, from: from, to: to, text: text, status: status,
                      failureReason: reason, sentAt: base.addingTimeInterval(minutes * 60))
    }

    static var state: AppState {
        var state = AppState(me: "alice", now: base.addingTimeInterval(600))
        state.chats = [
            ChatSummary(name: "bob", unread: 0, lastActivity: base, lastMessage: "benissimo 👍"),
            ChatSummary(name: "team-dev", unread: 2, lastActivity: base, lastMessage: "deploy?"),
            ChatSummary(name: "carol", unread: 0, lastActivity: base, lastMessage: nil),
        ]
        state.selectedChat = "bob"
        state.online = ["bob"]
        state.typing = ["carol": base.addingTimeInterval(600 + AppState.typingLasts)]
        // The user is at the keyboard: what arrives in the open chat is seen.
        state.lastKeyAt = state.now
        state.connection = .online
        state.conversation = [
            message(1, from: "bob", to: "alice", "ciao! come va?", .received, minutes: -1440),
            message(2, from: "alice", to: "bob", "tutto bene, e tu?", .read, minutes: 1),
            message(3, from: "bob", to: "alice", "benissimo 👍 漢字 e\u{301} 👨‍👩‍👧 🇮🇹", .received, minutes: 2),
            message(4, from: "alice", to: "bob", "delivered one", .delivered, minutes: 3),
            message(5, from: "alice", to: "bob", "sent one", .sent, minutes: 4),
            message(6, from: "alice", to: "bob", "queued one, written while offline", .queued, minutes: 5),
            message(7, from: "alice", to: "bob", "this one failed", .failed, minutes: 6, reason: "bob's mailbox is full"),
        ]
        state.queuedCount = 1
        return state
    }
}

@Suite struct RenderSnapshotTests {
    let renderer = Renderer(timeZone: Fixture.utc)

    @Test func standard80x24() throws {
        try assertSnapshot(renderer.render(Fixture.state, width: 80, height: 24, theme: .default), named: "80x24")
    }

    @Test func wide120x40() throws {
        try assertSnapshot(renderer.render(Fixture.state, width: 120, height: 40, theme: .default), named: "120x40")
    }

    @Test func narrowShowsOnePane() throws {
        try assertSnapshot(renderer.render(Fixture.state, width: 50, height: 20, theme: .default), named: "narrow-conversation")
        var list = Fixture.state
        list.focus = .chatList
        try assertSnapshot(renderer.render(list, width: 50, height: 20, theme: .default), named: "narrow-list")
    }

    @Test func longMessagesWrapAndTheInputGrows() throws {
        var state = Fixture.state
        state.conversation.append(Fixture.message(8, from: "bob", to: "alice",
            String(repeating: "una frase abbastanza lunga con parole 漢字 ed emoji 🍕 ", count: 4), .received, minutes: 7))
        state.editor = LineEditor(text: "first line\nsecond line that is long enough to wrap around the input area of an eighty column terminal for sure")
        try assertSnapshot(renderer.render(state, width: 80, height: 24, theme: .default), named: "wrapped")
    }

    @Test func unreadSeparator() throws {
        var state = Fixture.state
        state.unreadMarker = 1
        _ = Reducer.reduce(&state, .conversationLoaded(chat: "bob", messages: state.conversation))
        try assertSnapshot(renderer.render(state, width: 80, height: 24, theme: .default), named: "unread-separator")
    }

    @Test func helpOverlay() throws {
        var state = Fixture.state
        state.overlay = .help
        try assertSnapshot(renderer.render(state, width: 80, height: 24, theme: .default), named: "help")
    }

    @Test func theInputLineShowsWhoIsTypingAndTheListLastActivity() {
        var state = Fixture.state
        state.typing = ["bob": state.now.addingTimeInterval(5)]
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        #expect(screen.row(22).hasSuffix(" ✎ bob is typing "), "\(screen.row(22))")
        #expect(screen.row(1).contains("00:53"), "today's activity shows the time")
        state.now = Fixture.base.addingTimeInterval(3 * 86_400)
        #expect(renderer.render(state, width: 80, height: 24, theme: .default).row(1).contains("Mon"), "this week: the weekday")
        state.now = Fixture.base.addingTimeInterval(30 * 86_400)
        #expect(renderer.render(state, width: 80, height: 24, theme: .default).row(1).contains("30 Nov"), "older: the date")
    }

    @Test func searchResultsAndTheJumpedToMessage() throws {
        var state = Fixture.state
        let hits = (0..<30).map { (n: Int) -> MessageRecord in
            let fromBob = n % 2 == 0
            return Fixture.message(100 + Int64(n), from: fromBob ? "bob" : "alice", to: fromBob ? "alice" : "bob",
                                   "result number \(n) with bene in it", .read, minutes: Double(-60 * n))
        }
        _ = Reducer.reduce(&state, .searchLoaded(query: "bene", results: hits))
        for _ in 0..<20 { _ = Reducer.reduce(&state, .key(.down)) }
        try assertSnapshot(renderer.render(state, width: 80, height: 24, theme: .default), named: "search")
        _ = Reducer.reduce(&state, .key(.enter))
        _ = Reducer.reduce(&state, .jumpLoaded(chat: "bob", messages: Array(state.conversation.prefix(3)), target: 2, hasNewer: true))
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        try assertSnapshot(screen, named: "jumped")
        #expect(screen.cells.contains { $0.role == .highlight && $0.text == "t" }, "the found message is highlighted")
    }

    @Test func tooSmall() throws {
        try assertSnapshot(renderer.render(Fixture.state, width: 25, height: 6, theme: .default), named: "too-small")
    }

    @Test func offlineWithCountdownAndASCII() throws {
        var state = Fixture.state
        state.connection = .waitingToRetry(retryAt: state.now.addingTimeInterval(12.2), reason: "connection refused")
        var theme = Theme.mono
        theme.ascii = true
        try assertSnapshot(renderer.render(state, width: 80, height: 24, theme: theme), named: "offline-ascii")
    }

    @Test func tmuxWidthsKeepBordersStraight() throws {
        let tmux = Renderer(widths: DisplayWidth(variationSelectorEmoji: 1), timeZone: Fixture.utc)
        var state = Fixture.state
        state.conversation.append(Fixture.message(9, from: "bob", to: "alice", "❤️❤️❤️ ok", .received, minutes: 8))
        let screen = tmux.render(state, width: 80, height: 24, theme: .default)
        for y in 1..<20 {
            #expect(tmux.widths.width(of: screen.row(y)) == 80, "row \(y) is \(screen.row(y))")
        }
    }

    @Test func everyRowIsExactlyTheScreenWidthAtManySizes() {
        for (w, h) in [(30, 8), (59, 15), (60, 15), (80, 24), (97, 31), (200, 60)] {
            let screen = renderer.render(Fixture.state, width: w, height: h, theme: .default)
            for y in 0..<h {
                #expect(DisplayWidth().width(of: screen.row(y)) == w, "\(w)x\(h) row \(y): \(screen.row(y))")
            }
        }
    }
}
