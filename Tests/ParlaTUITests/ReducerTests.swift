import Foundation
import ParlaClient
@testable import ParlaTUI
import Testing

@Suite struct ReducerTests {
    func reduce(_ state: inout AppState, _ keys: Key...) -> [AppEffect] {
        keys.flatMap { Reducer.reduce(&state, .key($0)) }
    }

    func type(_ state: inout AppState, _ text: String) {
        for c in text { _ = Reducer.reduce(&state, .key(.character(c))) }
    }

    /// A submitted line's effects, after checking that the line went into the input history.
    static func remembered(_ line: String, _ effects: [AppEffect], sourceLocation: SourceLocation = #_sourceLocation) -> [AppEffect] {
        #expect(effects.contains(.rememberInput(line)), "a submitted line is kept for Up/Down recall", sourceLocation: sourceLocation)
        return effects.filter { $0 != .rememberInput(line) && $0 != .saveDraft(chat: "bob", text: "") && $0 != .saveDraft(chat: "#team", text: "") }
    }

    /// Types `line` and presses Enter.
    func command(_ state: inout AppState, _ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> [AppEffect] {
        type(&state, line)
        return Self.remembered(line, reduce(&state, .enter), sourceLocation: sourceLocation)
    }

    @Test func enterSendsToTheSelectedChatAndClearsTheInput() {
        var state = Fixture.state
        #expect(command(&state, "ciao 👋") == [.send(text: "ciao 👋", to: "bob")])
        #expect(state.editor.isEmpty)
        #expect(reduce(&state, .enter).isEmpty, "nothing to send")
    }

    @Test func typingNotifiesThePeer() {
        var state = Fixture.state
        #expect(reduce(&state, .character("x")) == [.typing(to: "bob")])
    }

    @Test func altEnterAndCtrlJInsertNewlines() {
        var state = Fixture.state
        type(&state, "a")
        _ = reduce(&state, .altEnter)
        type(&state, "b")
        _ = reduce(&state, .ctrl("j"))
        type(&state, "c")
        #expect(Self.remembered("a\nb\nc", reduce(&state, .enter)) == [.send(text: "a\nb\nc", to: "bob")])
    }

    @Test func aPastedBlockIsOneMessage() {
        var state = Fixture.state
        _ = reduce(&state, .paste("line one\r\nline two\nline three"))
        #expect(Self.remembered("line one\nline two\nline three", reduce(&state, .enter)) == [.send(text: "line one\nline two\nline three", to: "bob")])
    }

    @Test func chatSwitchingKeys() {
        var state = Fixture.state
        #expect(reduce(&state, .ctrl("n")) == [.loadConversation(chat: "team-dev"), .markRead(chat: "team-dev")])
        _ = reduce(&state, .altDown)
        #expect(state.selectedChat == "carol")
        _ = reduce(&state, .ctrl("n"))
        #expect(state.selectedChat == "bob", "wraps around")
        _ = reduce(&state, .ctrl("p"))
        #expect(state.selectedChat == "carol")
        _ = reduce(&state, .altUp)
        #expect(state.selectedChat == "team-dev")
        _ = reduce(&state, .alt("1"))
        #expect(state.selectedChat == "bob")
        #expect(reduce(&state, .alt("9")).isEmpty)
        _ = reduce(&state, .alt("a"))
        #expect(state.selectedChat == "team-dev", "next chat with unread messages")
    }

    @Test func openingAChatRemembersWhereTheUnreadStart() {
        var state = Fixture.state
        _ = reduce(&state, .alt("2"))
        #expect(state.unreadMarker == 2)
        _ = reduce(&state, .alt("1"))
        #expect(state.unreadMarker == 0)
    }

    @Test func theUnreadSeparatorStaysPutWhenMoreMessagesArrive() {
        var state = Fixture.state
        state.unreadMarker = 1
        _ = Reducer.reduce(&state, .conversationLoaded(chat: "bob", messages: state.conversation))
        #expect(state.unreadFrom == 3, "bob's last message was the unread one")
        _ = Reducer.reduce(&state, .engine(.messageAdded(Fixture.message(8, from: "bob", to: "alice", "new", .received, minutes: 9))))
        #expect(state.unreadFrom == 3)
    }

    @Test func tabMovesFocusAndTheListTakesArrows() {
        var state = Fixture.state
        _ = reduce(&state, .tab)
        #expect(state.focus == .chatList)
        _ = reduce(&state, .down)
        #expect(state.selectedChat == "team-dev")
        _ = reduce(&state, .end)
        #expect(state.selectedChat == "carol")
        _ = reduce(&state, .home)
        #expect(state.selectedChat == "bob")
        _ = reduce(&state, .enter)
        #expect(state.focus == .input)
    }

    @Test func lineEditingKeys() {
        var state = Fixture.state
        type(&state, "hello big world")
        _ = reduce(&state, .ctrl("w"))
        #expect(state.editor.text == "hello big ")
        _ = reduce(&state, .ctrl("y"))
        _ = reduce(&state, .ctrl("a"))
        _ = reduce(&state, .alt("f"))
        _ = reduce(&state, .ctrl("k"))
        #expect(state.editor.text == "hello")
        _ = reduce(&state, .ctrl("b"), .ctrl("b"), .backspace)
        #expect(state.editor.text == "helo")
        _ = reduce(&state, .ctrl("e"), .alt("b"), .delete)
        #expect(state.editor.text == "elo")
        _ = reduce(&state, .ctrl("f"), .ctrl("u"))
        #expect(state.editor.text == "lo")
        _ = reduce(&state, .left, .right, .end)
        #expect(state.editor.cursor == 2)
    }

    @Test func upAndDownRecallSentLines() {
        var state = Fixture.state
        type(&state, "first")
        _ = reduce(&state, .enter)
        type(&state, "second")
        _ = reduce(&state, .enter)
        _ = reduce(&state, .up)
        #expect(state.editor.text == "second")
        _ = reduce(&state, .up)
        #expect(state.editor.text == "first")
        _ = reduce(&state, .down, .down)
        #expect(state.editor.text.isEmpty)
    }

    @Test func scrollingPagesByTheDrawnPaneAndStopsAtTheTop() {
        var state = Fixture.state
        state.hasOlder = false
        _ = Reducer.reduce(&state, .viewport(Viewport(rows: 12, scroll: 0, maxScroll: 25)))
        _ = reduce(&state, .pageUp)
        #expect(state.scrollBack == 10, "a screenful less two lines of overlap")
        _ = reduce(&state, .pageUp, .pageUp, .pageUp, .pageUp)
        #expect(state.scrollBack == 25, "never past the first line")
        _ = reduce(&state, .pageDown)
        #expect(state.scrollBack == 15, "one PgDn after many PgUps moves at once")
        _ = reduce(&state, .pageDown, .pageDown)
        #expect(state.scrollBack == 0)
        _ = reduce(&state, .wheelUp)
        #expect(state.scrollBack == 3)
        #expect(state.editor.isEmpty, "the wheel never recalls input history")
        _ = reduce(&state, .wheelDown)
        #expect(state.scrollBack == 0)
        _ = reduce(&state, .ctrlHome)
        #expect(state.scrollBack >= 25, "to the top")
        _ = Reducer.reduce(&state, .viewport(Viewport(rows: 12, scroll: 25, maxScroll: 25)))
        _ = reduce(&state, .pageDown)
        #expect(state.scrollBack == 15)
        _ = reduce(&state, .ctrlEnd)
        #expect(state.scrollBack == 0)
    }

    @Test func jumpingToTheTopLoadsTheFirstPage() {
        var state = Fixture.state
        #expect(reduce(&state, .ctrlHome) == [.loadOldest(chat: "bob")])
        let first = [Fixture.message(0, from: "bob", to: "alice", "the very first", .received, minutes: -2000)]
        _ = Reducer.reduce(&state, .oldestLoaded(chat: "bob", messages: first, hasNewer: true))
        #expect(state.conversation == first && state.hasNewer && !state.hasOlder)
        #expect(reduce(&state, .ctrlEnd) == [.loadConversation(chat: "bob")], "back to the newest")
        #expect(state.scrollBack == 0 && !state.hasNewer)
    }

    @Test func scrollingBackLoadsOlderPagesUntilTheStart() {
        var state = Fixture.state
        #expect(reduce(&state, .pageUp) == [.loadOlder(chat: "bob", before: 1)])
        let older = Fixture.message(0, from: "bob", to: "alice", "the very first", .received, minutes: -2000)
        _ = Reducer.reduce(&state, .olderLoaded(chat: "bob", messages: [older]))
        #expect(state.conversation.first == older)
        #expect(state.conversation.count == 8)
        _ = Reducer.reduce(&state, .olderLoaded(chat: "bob", messages: []))
        #expect(!state.hasOlder)
        #expect(reduce(&state, .pageUp).isEmpty, "nothing older to load")
    }

    @Test func helpQuitAndCommands() {
        var state = Fixture.state
        _ = reduce(&state, .f1)
        #expect(state.overlay == .help)
        _ = reduce(&state, .character("x"))
        #expect(state.overlay == .none, "any key closes help")
        _ = reduce(&state, .character("?"))
        #expect(state.overlay == .none && state.editor.text == "?", "in the input, ? is a character")
        #expect(reduce(&state, .enter).first == .send(text: "?", to: "bob"), "a lone ? can be sent")
        _ = reduce(&state, .tab, .character("?"))
        #expect(state.overlay == .help, "from the chat list, ? opens help")
        _ = reduce(&state, .escape, .tab)
        #expect(reduce(&state, .ctrl("q")) == [.quit])
        _ = reduce(&state, .ctrl("c"))
        #expect(state.confirmingQuit)
        #expect(reduce(&state, .character("n")).isEmpty)
        _ = reduce(&state, .ctrl("c"))
        #expect(reduce(&state, .character("y")) == [.quit])
        #expect(command(&state, "/new dave") == [.loadConversation(chat: "dave"), .markRead(chat: "dave"), .checkUser(name: "dave")])
        _ = command(&state, "/frobnicate")
        #expect(state.notice?.contains("unknown command") == true)
        #expect(command(&state, "/quit") == [.quit])
        #expect(reduce(&state, .ctrl("r")) == [.retryConnection])
    }

    @Test func retryAndDeleteActOnTheChatsFailedMessages() {
        var state = Fixture.state
        #expect(command(&state, "/retry") == [.retry(localIDs: [7])])
        #expect(command(&state, "/delete") == [.deleteFailed(localIDs: [7], chat: "bob")])
        state.conversation.removeAll { $0.status == .failed }
        #expect(command(&state, "/retry").isEmpty)
        #expect(state.notice == "no failed messages in this chat")
    }

    @Test func engineEventsUpdateTheState() {
        var state = Fixture.state
        let incoming = Fixture.message(20, from: "bob", to: "alice", "new!", .received, minutes: 9)
        #expect(Reducer.reduce(&state, .engine(.messageAdded(incoming))) == [.markRead(chat: "bob"), .loadChats])
        #expect(state.conversation.last == incoming)
        var updated = state.conversation[1]
        updated.status = .failed
        _ = Reducer.reduce(&state, .engine(.messageUpdated(updated)))
        #expect(state.conversation[1].status == .failed)
        _ = Reducer.reduce(&state, .engine(.typing(from: "bob")))
        #expect(state.isTyping("bob"))
        _ = Reducer.reduce(&state, .engine(.presence(user: "bob", online: false, lastSeen: nil)))
        #expect(!state.online.contains("bob"))
        _ = Reducer.reduce(&state, .engine(.connection(.connecting)))
        #expect(state.connection == .connecting)
        let other = Fixture.message(21, from: "carol", to: "alice", "psst", .received, minutes: 9)
        #expect(Reducer.reduce(&state, .engine(.messageAdded(other))) == [.notify(chat: "carol", from: "carol", text: "psst"), .loadChats])
        #expect(state.conversation.last == incoming, "another chat's message stays out of this pane")
    }

    @Test func reboundKeysAreUsed() throws {
        var state = Fixture.state
        state.bindings = try AppConfig().applying("[keys]\nquit = \"ctrl-x\"\nnewline = \"ctrl-o\"", file: "c").keys
        #expect(reduce(&state, .ctrl("x")) == [.quit])
        #expect(reduce(&state, .ctrl("q")).isEmpty, "no longer bound")
        type(&state, "a")
        _ = reduce(&state, .ctrl("o"))
        type(&state, "b")
        _ = reduce(&state, .ctrl("j"))
        #expect(state.editor.text == "a\nb", "Ctrl-J lost its binding")
    }

    @Test func tabCompletesCommandsChatsAndThemes() {
        var state = Fixture.state
        state.themeNames = ["default", "high-contrast", "light", "mono"]
        type(&state, "/se")
        _ = reduce(&state, .tab)
        #expect(state.editor.text == "/search ")
        #expect(state.focus == .input, "Tab completes instead of moving focus")
        _ = reduce(&state, .ctrl("u"))
        type(&state, "/new ca")
        _ = reduce(&state, .tab)
        #expect(state.editor.text == "/new carol")
        _ = reduce(&state, .ctrl("u"))
        type(&state, "/theme ")
        _ = reduce(&state, .tab)
        #expect(state.editor.text == "/theme ", "several matches and no common start")
        #expect(state.notice == "default high-contrast light mono")
        type(&state, "h")
        _ = reduce(&state, .tab)
        #expect(state.editor.text == "/theme high-contrast")
        _ = reduce(&state, .ctrl("u"))
        type(&state, "/zz")
        _ = reduce(&state, .tab)
        #expect(state.notice == "no match for 'zz'")
        _ = reduce(&state, .ctrl("u"))
        _ = reduce(&state, .tab)
        #expect(state.focus == .chatList, "an empty line: Tab moves focus as usual")
    }

    @Test func searchListsResultsAndEnterJumps() {
        var state = Fixture.state
        #expect(command(&state, "/search bene") == [.search(text: "bene")])
        _ = Reducer.reduce(&state, .searchLoaded(query: "nothing", results: []))
        #expect(state.overlay == .none)
        #expect(state.notice == "no messages match 'nothing'")
        let hits = [Fixture.message(40, from: "team-dev", to: "alice", "bene old", .received, minutes: -9000),
                    Fixture.message(2, from: "alice", to: "bob", "tutto bene, e tu?", .read, minutes: 1)]
        _ = Reducer.reduce(&state, .searchLoaded(query: "bene", results: hits))
        #expect(state.overlay == .search)
        #expect(reduce(&state, .character("x")).isEmpty, "typing does not reach the input while the list is open")
        #expect(state.editor.isEmpty)
        _ = reduce(&state, .down, .down)
        #expect(state.searchSelection == 1, "stops at the last result")
        _ = reduce(&state, .up)
        #expect(reduce(&state, .enter) == [.jump(chat: "team-dev", localID: 40)])
        #expect(state.overlay == .none)
        let page = [Fixture.message(39, from: "team-dev", to: "alice", "before", .received, minutes: -9001), hits[0]]
        #expect(Reducer.reduce(&state, .jumpLoaded(chat: "team-dev", messages: page, target: 40, hasNewer: true)) == [.markRead(chat: "team-dev"), .loadReactions(chat: "team-dev")])
        #expect(state.selectedChat == "team-dev")
        #expect(state.highlighted == 40)
        // A message arriving meanwhile is not glued after an old page.
        _ = Reducer.reduce(&state, .engine(.messageAdded(Fixture.message(99, from: "team-dev", to: "alice", "new", .received, minutes: 10))))
        #expect(state.conversation.map(\.localID) == [39, 40])
        #expect(reduce(&state, .pageDown) == [.loadConversation(chat: "team-dev"), .markRead(chat: "team-dev")],
                "PgDn at the bottom returns to the newest, and what arrived meanwhile is read")
        #expect(state.highlighted == nil && !state.hasNewer)
    }

    @Test func escapeClosesTheSearchList() {
        var state = Fixture.state
        _ = Reducer.reduce(&state, .searchLoaded(query: "x", results: [Fixture.message(2, from: "alice", to: "bob", "x", .read, minutes: 1)]))
        _ = reduce(&state, .escape)
        #expect(state.overlay == .none)
    }

    @Test func themeCommand() {
        var state = Fixture.state
        #expect(command(&state, "/theme light") == [.setTheme(name: "light")])
        #expect(command(&state, "/theme").isEmpty)
        #expect(state.notice?.hasPrefix("usage: /theme NAME") == true)
    }

    @Test func verifyCommand() {
        var state = Fixture.state
        #expect(command(&state, "/verify") == [.verify(name: "bob", mark: false)], "defaults to the open chat")
        #expect(command(&state, "/verify carol yes") == [.verify(name: "carol", mark: true)])
        _ = Reducer.reduce(&state, .verifiedLoaded(["bob"]))
        #expect(Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default).row(0).contains("bob · verified"))
    }
}
