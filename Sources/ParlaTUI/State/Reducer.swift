import Foundation
import ParlaClient

/// The pure heart of the UI: applies one action to the state and says which
/// effects the runner must perform.
public enum Reducer {
    public static func reduce(_ state: inout AppState, _ action: AppAction) -> [AppEffect] {
        switch action {
        case .key(let key):
            return handleKey(&state, key)
        case .engine(let event):
            return handleEvent(&state, event)
        case .chatsLoaded(let chats):
            state.chats = chats
            if state.selectedChat == nil, let first = chats.first {
                state.selectedChat = first.name
                state.unreadMarker = first.unread
                return [.loadConversation(chat: first.name), .markRead(chat: first.name)]
            }
            return []
        case .conversationLoaded(let chat, let messages):
            guard chat == state.selectedChat else { return [] }
            state.conversation = messages
            state.hasOlder = !messages.isEmpty
            return []
        case .olderLoaded(let chat, let messages):
            guard chat == state.selectedChat else { return [] }
            state.conversation.insert(contentsOf: messages.filter { $0.localID < (state.conversation.first?.localID ?? .max) }, at: 0)
            state.hasOlder = !messages.isEmpty
            return []
        case .queuedCount(let count):
            state.queuedCount = count
            return []
        case .tick(let now):
            state.now = now
            return []
        }
    }

    private static func handleEvent(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
        switch event {
        case .connection(let connection):
            state.connection = connection
            return []
        case .messageAdded(let record), .messageUpdated(let record):
            if record.chat == state.selectedChat {
                if let index = state.conversation.firstIndex(where: { $0.localID == record.localID }) {
                    state.conversation[index] = record
                } else {
                    state.conversation.append(record)
                }
            }
            if case .messageAdded = event, record.status == .received {
                state.typing.remove(record.from)
                return record.chat == state.selectedChat ? [.markRead(chat: record.chat), .loadChats] : [.bell, .loadChats]
            }
            return [.loadChats]
        case .typing(let from):
            state.typing.insert(from)
            return []
        case .presence(let user, let online, _):
            if online { state.online.insert(user) } else { state.online.remove(user) }
            return []
        case .notice(let text):
            state.notice = text
            return []
        case .synced:
            return [.loadChats]
        }
    }

    private static func handleKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
        if state.overlay == .help {
            state.overlay = .none
            return []
        }
        if state.confirmingQuit {
            state.confirmingQuit = false
            if key == .character("y") || key == .character("Y") { return [.quit] }
            return []
        }
        state.notice = nil
        switch key {
        case .ctrl("q"): return [.quit]
        case .ctrl("c"):
            state.confirmingQuit = true
            return []
        case .f1:
            state.overlay = .help
            return []
        case .character("?") where state.editor.isEmpty:
            state.overlay = .help
            return []
        case .ctrl("n"), .altDown: return select(&state, offset: 1)
        case .ctrl("p"), .altUp: return select(&state, offset: -1)
        case .alt("a"): return selectNextUnread(&state)
        case .alt(let c) where c.isNumber && c != "0":
            let index = Int(String(c))! - 1
            guard index < state.chats.count else { return [] }
            return open(&state, chat: state.chats[index].name)
        case .tab:
            state.focus = state.focus == .input ? .chatList : .input
            return []
        case .pageUp:
            state.scrollBack += 10
            // Near the top of what is loaded: fetch the page before it (history is never loaded whole).
            if state.hasOlder, state.scrollBack + 20 >= state.conversation.count,
               let chat = state.selectedChat, let first = state.conversation.first {
                return [.loadOlder(chat: chat, before: first.localID)]
            }
            return []
        case .pageDown:
            state.scrollBack = max(0, state.scrollBack - 10)
            return []
        case .ctrl("r"): return [.retryConnection]
        default:
            break
        }
        if state.focus == .chatList {
            switch key {
            case .up: return select(&state, offset: -1)
            case .down: return select(&state, offset: 1)
            case .home: return state.chats.first.map { open(&state, chat: $0.name) } ?? []
            case .end: return state.chats.last.map { open(&state, chat: $0.name) } ?? []
            case .enter:
                state.focus = .input
                return []
            default: break
            }
        }
        return edit(&state, key)
    }

    private static func edit(_ state: inout AppState, _ key: Key) -> [AppEffect] {
        var editor = state.editor
        defer { state.editor = editor }
        switch key {
        case .character(let c):
            editor.insert(String(c))
            return state.selectedChat.map { [.typing(to: $0)] } ?? []
        case .paste(let text):
            editor.insert(text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n"))
            return []
        case .altEnter, .ctrl("j"): editor.insert("\n")
        case .backspace: editor.backspace()
        case .delete, .ctrl("d"): editor.deleteForward()
        case .left, .ctrl("b"): editor.moveLeft()
        case .right, .ctrl("f"): editor.moveRight()
        case .ctrl("a"), .home: editor.moveToLineStart()
        case .ctrl("e"), .end: editor.moveToLineEnd()
        case .alt("b"): editor.moveWordLeft()
        case .alt("f"): editor.moveWordRight()
        case .ctrl("k"): editor.killToEnd()
        case .ctrl("u"): editor.killToStart()
        case .ctrl("w"): editor.killWordBackward()
        case .ctrl("y"): editor.yank()
        case .up where editor.cursorOnFirstLine: editor.recallPrevious()
        case .down where editor.cursorOnLastLine: editor.recallNext()
        case .enter:
            let text = editor.text
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
            if text.hasPrefix("/") {
                _ = editor.submit()
                state.editor = editor
                return command(&state, text)
            }
            guard let chat = state.selectedChat else {
                state.notice = "no chat selected: open one with /new NAME"
                return []
            }
            _ = editor.submit()
            state.scrollBack = 0
            return [.send(text: text, to: chat)]
        default: break
        }
        return []
    }

    private static func command(_ state: inout AppState, _ line: String) -> [AppEffect] {
        let parts = line.dropFirst().split(separator: " ", maxSplits: 1).map(String.init)
        switch parts.first ?? "" {
        case "quit", "q": return [.quit]
        case "help": state.overlay = .help
        case "retry", "delete":
            let failed = state.conversation.filter { $0.isOutgoing && $0.status == .failed }.map(\.localID)
            guard let chat = state.selectedChat, !failed.isEmpty else {
                state.notice = "no failed messages in this chat"
                return []
            }
            return parts[0] == "retry" ? [.retry(localIDs: failed)] : [.deleteFailed(localIDs: failed, chat: chat)]
        case "new", "open":
            guard parts.count == 2 else {
                state.notice = "usage: /new NAME"
                return []
            }
            let name = parts[1].trimmingCharacters(in: .whitespaces)
            return open(&state, chat: name)
        default:
            state.notice = "unknown command '\(line)'; /help lists them"
        }
        return []
    }

    private static func select(_ state: inout AppState, offset: Int) -> [AppEffect] {
        guard !state.chats.isEmpty else { return [] }
        let current = state.chats.firstIndex { $0.name == state.selectedChat } ?? 0
        let next = (current + offset + state.chats.count) % state.chats.count
        return open(&state, chat: state.chats[next].name)
    }

    private static func selectNextUnread(_ state: inout AppState) -> [AppEffect] {
        let current = state.chats.firstIndex { $0.name == state.selectedChat } ?? -1
        let order = state.chats.indices.map { (current + 1 + $0) % state.chats.count }
        guard let index = order.first(where: { state.chats[$0].unread > 0 }) else { return [] }
        return open(&state, chat: state.chats[index].name)
    }

    static func open(_ state: inout AppState, chat: String) -> [AppEffect] {
        guard chat != state.selectedChat else { return [] }
        state.selectedChat = chat
        state.unreadMarker = state.chats.first { $0.name == chat }?.unread ?? 0
        state.conversation = []
        state.scrollBack = 0
        return [.loadConversation(chat: chat), .markRead(chat: chat)]
    }
}
