import Foundation
import ParlaClient
@testable import ParlaTUI
import Testing

/// How the screen looks for the everyday cases: links, 8 colours, long notices, long
/// chat lists, search hits, wide emoji, the time format.
@Suite struct EverydayRenderTests {
    let renderer = Renderer(timeZone: Fixture.utc)

    @Test func aURLCutByWrappingLinksEveryPieceToTheWholeAddress() {
        var state = Fixture.state
        let url = "https://example.org/a/very/long/path/that/cannot/fit/on/one/line?q=1"
        state.conversation = [Fixture.message(1, from: "bob", to: "alice", "look: \(url). ok", .received, minutes: 1)]
        let screen = renderer.render(state, width: 60, height: 16, theme: .default)
        #expect(screen.links.count >= 2, "the URL wrapped over two lines: \(screen.links)")
        #expect(screen.links.allSatisfy { $0.url == url }, "every piece links to the whole URL, without the full stop")
        let shown = screen.links.map { link in (link.x..<link.x + link.width).map { screen[$0, link.y].text }.joined() }.joined()
        #expect(shown == url, "the linked cells spell the URL exactly")
        let out = Terminal.hyperlinks(screen, sgr: [:])
        #expect(out.contains("\u{1B}]8;;\(url)\u{1B}\\"), "written as OSC 8")
        #expect(Renderer(timeZone: Fixture.utc, hyperlinks: false).render(state, width: 60, height: 16, theme: .default).links.isEmpty)
        // A panel over the conversation hides its links too.
        state.overlay = .help
        #expect(renderer.render(state, width: 60, height: 16, theme: .default).links.allSatisfy { $0.x < 3 || $0.x > 57 })
    }

    /// A peer's text may hold escape sequences (a title change, OSC 52 writing the clipboard);
    /// none reaches the screen, not even behind a flag (clusters like it are written raw).
    @Test func noControlCharacterFromAPeerReachesTheScreen() {
        var state = Fixture.state
        state.conversation = [Fixture.message(1, from: "bob", to: "alice", "hi\u{1B}]52;c;cGF3bmVk\u{07} 🇮🇹\u{1B}[2J\u{9B}31m end\tx", .received, minutes: 1)]
        state.groups["team"] = ClientStore.GroupState(name: "team", title: "evil\u{1B}]0;t\u{07}", members: ["alice", "bob"], admins: [], isMember: true)
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        let scalars = screen.cells.flatMap { $0.text.unicodeScalars }
        #expect(!scalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(screen.text.contains("hi\u{FFFD}]52;c;cGF3bmVk\u{FFFD} 🇮🇹"), "shown, defused")
        #expect(DisplayText.safe("a\tb\nc") == "a    b\nc")
    }

    @Test func linksNeverCarryControlCharacters() {
        #expect(Links.urls(in: "x https://evil.example/\u{1B}]0;pwned\u{07} y") == ["https://evil.example/"])
        #expect(Links.urls(in: "(see https://a.example/path), and http://b.example.") == ["https://a.example/path", "http://b.example"])
        #expect(Links.urls(in: "nothttps://x.example or https://").isEmpty)
    }

    @Test func eightColourTerminalsKeepBordersAndTheStatusBarVisible() {
        let border = ColorMapping.resolve(Theme.default.style(.border), colors: 8, darkBackground: true)
        #expect(border.foreground == 7, "grey 240 would be black on black; it becomes white")
        let status = ColorMapping.resolve(Theme.default.style(.statusLine), colors: 8, darkBackground: true)
        #expect(status.background == nil && status.reverse, "a near-black bar becomes reverse video")
        let selected = ColorMapping.resolve(Theme.default.style(.chatSelected), colors: 8, darkBackground: true)
        #expect(selected.background == 6 && !selected.reverse, "a background that maps to a real colour keeps it")
        #expect(ColorMapping.resolve(Theme.default.style(.border), colors: 256, darkBackground: true).foreground == 240, "256 colours: unchanged")
        #expect(ColorMapping.resolve(Theme.default.style(.border), colors: 0, darkBackground: true).foreground == nil)
        let light = ColorMapping.resolve(Theme.Style(foreground: 250), colors: 8, darkBackground: false)
        #expect(light.foreground == 0, "on a light theme a pale grey becomes black, not white on white")
        let reverseSGR = Terminal.sgr(status, reverseInstead: false)
        #expect(reverseSGR.contains(";7") && !reverseSGR.contains("48;"), "\(reverseSGR.debugDescription)")
    }

    @Test func aLongNoticeIsWrappedAboveTheStatusLineNotCut() {
        var state = Fixture.state
        state.notice = "safety number with bob: 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 · compare with bob's, then /verify bob yes"
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        let text = screen.text.replacingOccurrences(of: "\n", with: " ")
        #expect(text.contains("/verify bob yes"), "the end of the notice is on screen")
        #expect(screen.row(23).contains("alice · ● online"), "the status line stays whole")
        #expect(screen.row(21).hasPrefix(" safety number"), "\(screen.row(21))")
    }

    @Test func theChatListScrollsToTheSelection() {
        var state = Fixture.state
        state.chats = (1...30).map { ChatSummary(name: "user\($0)", unread: 0, lastActivity: Fixture.base, lastMessage: nil) }
        state.selectedChat = "user25"
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        #expect(screen.text.contains("> user25"))
        #expect(screen.row(0).contains("↑"), "a mark says there are chats above")
        #expect(screen.row(21).contains("↓5"), "and how many below: \(screen.row(21))")
    }

    @Test func searchResultsMarkTheWordsFound() {
        var state = Fixture.state
        state.searchQuery = "deplo fri"
        state.searchResults = [Fixture.message(9, from: "bob", to: "alice", "we deploy on Friday, not deployment day", .received, minutes: 1)]
        state.overlay = .search
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        let row = (0..<24).first { screen.row($0).contains("we deploy on Friday") }!
        let marked = (0..<80).filter { screen[$0, row].role == .highlight }.map { screen[$0, row].text }.joined()
        #expect(marked == "deployFridaydeployment", "whole words found by their prefix: \(marked)")
    }

    @Test func skinToneEmojiTakeTheMeasuredWidthAndNeverOverwriteNeighbours() {
        let tmux = DisplayWidth(variationSelectorEmoji: 1, skinTone: 4)
        #expect(tmux.width(of: "👍🏽") == 4)
        #expect(tmux.width(of: "a👍🏽b") == 6)
        var screen = ScreenBuffer(width: 10, height: 1, widths: tmux)
        screen.put("x👍🏽y", x: 0, y: 0, role: .normal)
        #expect(screen.row(0) == "x👍🏽y    ", "the emoji owns four columns and y comes after them")
        screen.put("z", x: 2, y: 0, role: .normal)
        #expect(screen.row(0) == "x z  y    ", "writing into it blanks all of it: nothing shifts")
    }

    @Test func messageTimesFollowTheConfiguredFormat() throws {
        let twelve = Renderer(timeZone: Fixture.utc, timeFormat: "h:mm a")
        let screen = twelve.render(Fixture.state, width: 80, height: 24, theme: .default)
        #expect(screen.text.contains("12:54 AM you tutto bene"))
        let config = try AppConfig().applying("time_format = \"h:mm a\"\nmouse = false\nnotifications = \"osc777\"\nhyperlinks = false", file: "c.toml")
        #expect(config.timeFormat == "h:mm a" && !config.mouse && config.notifications == .osc777 && !config.hyperlinks)
        #expect(throws: TOMLError.self) { try AppConfig().applying("time_format = \"yyyy\"", file: "c.toml") }
        #expect(throws: TOMLError.self) { try AppConfig().applying("notifications = \"loud\"", file: "c.toml") }
    }

    @Test func notificationsNeverCarryAPeersControlCharacters() {
        let one = [Notification(chat: "bob", from: "bob", text: "hi\u{1B}]52;c;cGF3bmVk\u{07} there")]
        let osc9 = Notifier(style: .osc9).sequence(for: one)!
        #expect(osc9 == "\u{1B}]9;bob: hi ]52,c,cGF3bmVk  there\u{07}", "\(osc9.debugDescription)")
        #expect(Notifier(style: .osc777).sequence(for: one)!.hasPrefix("\u{1B}]777;notify;bob;hi "))
        let backlog = (1...40).map { Notification(chat: "c\($0 % 3)", from: "u\($0 % 3)", text: "m\($0)") }
        #expect(Notifier(style: .osc9).sequence(for: backlog) == "\u{1B}]9;40 new messages: from u1, u2, u0\u{07}", "a backlog is one notification")
        #expect(Notifier(style: .bell).sequence(for: one) == nil)
        #expect(Notifier.detect(environment: ["TMUX": "/tmp/x", "TERM_PROGRAM": "iTerm.app"]) == .bell, "inside tmux the bell is what reaches the terminal")
        #expect(Notifier.detect(environment: ["TERM_PROGRAM": "WezTerm"]) == .osc9)
        #expect(Notifier.detect(environment: ["TERM": "foot"]) == .osc777)
        #expect(Notifier.detect(environment: ["TERM": "xterm-256color"]) == .bell)
    }

    @Test func aMultiLineDraftShowsMoreThanThreeLinesAndFollowsTheCursor() {
        var state = Fixture.state
        state.editor = LineEditor(text: (1...9).map { "line \($0)" }.joined(separator: "\n"))
        let screen = renderer.render(state, width: 80, height: 24, theme: .default)
        let input = (0..<24).filter { row in ["> line", "  line", "↑ line"].contains { screen.row(row).hasPrefix($0) } }
        #expect(input.count == 8, "a third of the screen: \(input.count)")
        #expect(screen.text.contains("line 9"))
        for _ in 0..<8 { state.editor.moveLineUp() }
        let up = renderer.render(state, width: 80, height: 24, theme: .default)
        #expect(up.text.contains("> line 1"), "the view follows the cursor to the first line")
        let cursor = renderer.inputCursor(state, width: 80, height: 24)!
        #expect(up.row(cursor.y).contains("line 1"))
    }
}
