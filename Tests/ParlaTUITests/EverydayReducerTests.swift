import Foundation
import ParlaClient
@testable import ParlaTUI
import Testing

/// What a new user meets in the first minutes: drafts, the read marker, scrolling while
/// messages arrive, typing notices, /new, chat settings, completion and notifications.
@Suite struct EverydayReducerTests {
    func press(_ state: inout AppState, _ keys: Key...) -> [AppEffect] {
        keys.flatMap { Reducer.reduce(&state, .key($0)) }
    }

    func type(_ state: inout AppState, _ text: String) -> [AppEffect] {
        text.flatMap { Reducer.reduce(&state, .key(.character($0))) }
    }

    func arrival(_ n: Int64, from: String = "bob", _ text: String = "hi") -> AppAction {
        .engine(.messageAdded(Fixture.message(n, from: from, to: "alice", text, .received, minutes: 9)))
    }

    @Test func eachChatKeepsItsOwnDraftAndTheProfileKeepsThem() {
        var state = Fixture.state
        _ = type(&state, "half a thought")
        let effects = press(&state, .ctrl("n"))
        #expect(effects.contains(.saveDraft(chat: "bob", text: "half a thought")), "leaving a chat keeps its draft")
        #expect(state.selectedChat == "team-dev")
        #expect(state.editor.isEmpty, "the draft does not follow into the next chat")
        _ = type(&state, "for the team")
        _ = press(&state, .ctrl("p"))
        #expect(state.editor.text == "half a thought", "back in bob's chat, his draft is back")
        _ = press(&state, .ctrl("n"))
        #expect(state.editor.text == "for the team")
        // Typing and waiting: the draft is saved within a tick, so a kill -9 keeps it.
        _ = type(&state, "!")
        #expect(Reducer.reduce(&state, .tick(state.now.addingTimeInterval(1))) == [.saveDraft(chat: "team-dev", text: "for the team!")])
        #expect(Reducer.reduce(&state, .tick(state.now.addingTimeInterval(1))).isEmpty, "saved once, not every tick")
        // Sending clears the saved draft.
        #expect(press(&state, .enter).contains(.saveDraft(chat: "team-dev", text: "")))
    }

    @Test func draftsAndInputHistoryComeBackAtStartUp() {
        var state = Fixture.state
        _ = Reducer.reduce(&state, .inputRestored(drafts: ["bob": "unsent to bob", "carol": "to carol"], history: ["old one", "older two"]))
        #expect(state.editor.text == "unsent to bob")
        _ = press(&state, .ctrl("u"))
        _ = press(&state, .up)
        #expect(state.editor.text == "older two", "history from the last run")
        _ = press(&state, .up)
        #expect(state.editor.text == "old one")
        _ = press(&state, .alt("3"))
        #expect(state.editor.text == "to carol")
    }

    @Test func upAndDownMoveBetweenTheLinesOfAMultiLineDraft() {
        var state = Fixture.state
        _ = Reducer.reduce(&state, .inputRestored(drafts: [:], history: ["from history"]))
        _ = type(&state, "first line")
        _ = press(&state, .altEnter)
        _ = type(&state, "second")
        _ = press(&state, .up)
        #expect(state.editor.text == "first line\nsecond", "Up on the second line moves, it does not recall")
        #expect(state.editor.cursor == 6, "same column on the line above")
        _ = press(&state, .down)
        #expect(state.editor.cursor == "first line\nsecond".count)
        _ = press(&state, .up, .up)
        #expect(state.editor.text == "from history", "Up on the first line recalls")
    }

    @Test func aBacklogArrivingWhileAwayStaysUnreadBelowAMarker() {
        var state = Fixture.state
        state.lastKeyAt = nil // the UI just started; nobody has pressed a key
        _ = Reducer.reduce(&state, .conversationLoaded(chat: "bob", messages: state.conversation))
        for n in Int64(20)...22 {
            let effects = Reducer.reduce(&state, arrival(n))
            #expect(!effects.contains(.markRead(chat: "bob")), "not read while nobody is looking")
            #expect(effects.contains(.notify(chat: "bob", from: "bob", text: "hi")))
        }
        #expect(state.unreadFrom == 20 && state.unreadMarker == 3)
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default)
        #expect(screen.text.contains(" 3 unread "))
        // The user comes back: the first key marks them read; the marker stays where it was.
        #expect(press(&state, .character("x")).contains(.markRead(chat: "bob")))
        #expect(!press(&state, .character("y")).contains(.markRead(chat: "bob")), "once")
        #expect(state.unreadFrom == 20)
    }

    @Test func messagesArrivingWhileScrolledUpKeepTheViewAndWait() {
        var state = Fixture.state
        let renderer = Renderer(timeZone: Fixture.utc)
        var frame = renderer.frame(state, width: 80, height: 12, theme: .default)
        _ = Reducer.reduce(&state, .viewport(frame.viewport))
        _ = press(&state, .pageUp)
        frame = renderer.frame(state, width: 80, height: 12, theme: .default)
        _ = Reducer.reduce(&state, .viewport(frame.viewport))
        let before = frame.screen.text
        let effects = Reducer.reduce(&state, arrival(30, "one")) + Reducer.reduce(&state, arrival(31, "two"))
        #expect(!effects.contains(.markRead(chat: "bob")), "not read off screen")
        frame = renderer.frame(state, width: 80, height: 12, theme: .default)
        let lines = frame.screen.text.split(separator: "\n")
        #expect(Array(lines.dropFirst().prefix(8)) == Array(before.split(separator: "\n").dropFirst().prefix(8)), "the view did not move")
        #expect(frame.screen.text.contains("2 new messages ↓"))
        _ = Reducer.reduce(&state, .viewport(frame.viewport))
        // Paging down to the newest: read.
        var read: [AppEffect] = []
        for _ in 0..<5 {
            read += press(&state, .pageDown)
            frame = renderer.frame(state, width: 80, height: 12, theme: .default)
            read += Reducer.reduce(&state, .viewport(frame.viewport))
        }
        #expect(read.contains(.markRead(chat: "bob")))
        #expect(state.newBelow == 0 && state.scrollBack == 0)
        #expect(frame.screen.text.contains("two"))
    }

    @Test func typingNoticesExpireAndAreNotSentForCommands() {
        var state = Fixture.state
        _ = Reducer.reduce(&state, .engine(.typing(from: "bob")))
        #expect(state.isTyping("bob"))
        _ = Reducer.reduce(&state, .tick(state.now.addingTimeInterval(AppState.typingLasts + 1)))
        #expect(!state.isTyping("bob"), "a notice nobody renews goes away")
        _ = Reducer.reduce(&state, .engine(.typing(from: "bob")))
        _ = Reducer.reduce(&state, .engine(.presence(user: "bob", online: false, lastSeen: nil)))
        #expect(!state.isTyping("bob"), "someone who went offline is not typing")

        #expect(type(&state, "hello") == [.typing(to: "bob")], "once per few seconds, not per key")
        _ = Reducer.reduce(&state, .tick(state.now.addingTimeInterval(Reducer.typingEvery)))
        #expect(type(&state, "!") == [.typing(to: "bob")], "repeated while the user keeps typing")
        _ = press(&state, .ctrl("u"))
        _ = Reducer.reduce(&state, .tick(state.now.addingTimeInterval(Reducer.typingEvery)))
        #expect(type(&state, "/search x").isEmpty, "a /command is not typing to anyone")
    }

    @Test func presenceIsUnknownWhileOffline() {
        var state = Fixture.state
        _ = Reducer.reduce(&state, .engine(.connection(.offline)))
        #expect(state.online.isEmpty)
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default)
        #expect(!screen.text.contains("●"), "nobody is shown online while we are not")
    }

    @Test func newChecksTheNameBeforeOpeningAChat() {
        var state = Fixture.state
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/new Not A Name").isEmpty)
        #expect(state.notice == "'Not A Name' is not a valid user name (3-32 of a-z 0-9 _ . -)")
        #expect(run("/new alice").isEmpty, "not with yourself")
        #expect(run("/new #nogroup").isEmpty)
        #expect(state.notice?.hasPrefix("no group '#nogroup'") == true)
        #expect(run("/new carol") == [.loadConversation(chat: "carol"), .markRead(chat: "carol")], "a chat that exists opens at once")
        #expect(run("/new @zed") == [.loadConversation(chat: "zed"), .markRead(chat: "zed"), .checkUser(name: "zed")],
                "opened at once, so typing can start, and checked")
        #expect(state.selectedChat == "zed")
        #expect(Reducer.reduce(&state, .userChecked(name: "zed", result: .unknown)) == [.loadChats])
        #expect(state.notice == "there is no user 'zed' on this relay")
        #expect(state.selectedChat == nil, "the empty chat with nobody is gone")
        _ = Reducer.reduce(&state, .chatsLoaded(state.chats))
        #expect(state.selectedChat == "bob")
        _ = run("/new dave")
        #expect(Reducer.reduce(&state, .userChecked(name: "dave", result: .unreachable)).isEmpty)
        #expect(state.selectedChat == "dave")
        #expect(state.notice?.contains("cannot check 'dave' while offline") == true)
        #expect(Reducer.reduce(&state, .userChecked(name: "dave", result: .exists)).isEmpty)
    }

    @Test func chatsCanBePinnedMutedAndClosed() {
        var state = Fixture.state
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/pin carol") == [.chatSetting(chat: "carol", .pin(true))])
        #expect(run("/unpin carol") == [.chatSetting(chat: "carol", .pin(false))])
        #expect(run("/mute") == [.chatSetting(chat: "bob", .mute(true))], "the open chat by default")
        #expect(run("/unmute team-dev") == [.chatSetting(chat: "team-dev", .mute(false))])
        #expect(run("/mute nobody").isEmpty)
        #expect(state.notice == "no chat 'nobody'")
        #expect(run("/close") == [.chatSetting(chat: "bob", .close)])
        #expect(state.selectedChat == nil, "the list opens another chat once this one is gone")
        let chats = [ChatSummary(name: "carol", unread: 0, lastActivity: Fixture.base, lastMessage: nil, pinned: true),
                     ChatSummary(name: "team-dev", unread: 2, lastActivity: Fixture.base, lastMessage: nil, muted: true)]
        #expect(Reducer.reduce(&state, .chatsLoaded(chats)) == [.loadConversation(chat: "carol"), .markRead(chat: "carol")])
        // A muted chat neither rings nor notifies, but still counts.
        let effects = Reducer.reduce(&state, .engine(.messageAdded(Fixture.message(50, from: "team-dev", to: "alice", "@alice look", .received, minutes: 9))))
        #expect(effects == [.loadChats])
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default)
        #expect(screen.row(1).contains("📌") && screen.row(2).contains("🔇"), "\(screen.row(1))\n\(screen.row(2))")
    }

    @Test func tabCompletesNamesAndMentions() {
        var state = Fixture.state
        _ = type(&state, "ca")
        _ = press(&state, .tab)
        #expect(state.editor.text == "carol: ", "a name at the start is an address")
        #expect(state.focus == .input)
        _ = press(&state, .ctrl("u"))
        _ = type(&state, "ask @b")
        _ = press(&state, .tab)
        #expect(state.editor.text == "ask @bob ")
        _ = press(&state, .ctrl("u"))
        _ = type(&state, "x @q")
        _ = press(&state, .tab)
        #expect(state.editor.text == "x @q" && state.notice == "no name starts with 'q'")
        _ = press(&state, .ctrl("u"))
        _ = press(&state, .tab)
        #expect(state.focus == .chatList, "nothing to complete: Tab moves focus")
    }

    /// Opening a chat reads its page in the background; a message sent or received before
    /// that page arrives must not vanish under it.
    @Test func aPageReadBeforeANewMessageDoesNotHideIt() {
        var state = Fixture.state
        _ = press(&state, .alt("3"))
        let sent = Fixture.message(90, from: "alice", to: "carol", "typed at once", .queued, minutes: 9)
        _ = Reducer.reduce(&state, .engine(.messageAdded(sent)))
        _ = Reducer.reduce(&state, .conversationLoaded(chat: "carol", messages: []))
        #expect(state.conversation == [sent])
        let older = Fixture.message(10, from: "carol", to: "alice", "older", .received, minutes: 1)
        _ = Reducer.reduce(&state, .conversationLoaded(chat: "carol", messages: [older, sent]))
        #expect(state.conversation == [older, sent], "no duplicate once the page has it")
    }

    @Test func slashSlashSendsALineThatStartsWithASlash() {
        var state = Fixture.state
        _ = type(&state, "//shrug")
        #expect(press(&state, .enter).first == .send(text: "/shrug", to: "bob"))
    }

    @Test func helpScrollsAndAnyOtherKeyClosesIt() {
        var state = Fixture.state
        _ = press(&state, .f1, .down, .down, .pageDown)
        #expect(state.overlay == .help && state.helpScroll == 12)
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default)
        #expect(screen.text.contains("/timer 1h|30s|1d|off"), "scrolled to the commands")
        _ = press(&state, .up)
        #expect(state.helpScroll == 11)
        _ = press(&state, .character("q"))
        #expect(state.overlay == .none)
        let lines = KeyBindings.default.helpLines.joined(separator: "\n")
        for command in Reducer.commandNames {
            #expect(lines.contains("/" + command), "help lists /\(command)")
        }
    }
}
