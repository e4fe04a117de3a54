import Foundation
import ParlaClient
import ParlaProtocol

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
            let received = messages.filter { !$0.isOutgoing }.map(\.localID)
            state.unreadFrom = state.unreadMarker > 0 ? received.suffix(state.unreadMarker).first : nil
            state.hasNewer = false
            state.highlighted = nil
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
        case .searchLoaded(let query, let results):
            state.searchQuery = query
            state.searchResults = results
            state.searchSelection = 0
            if results.isEmpty {
                state.notice = "no messages match '\(query)'"
            } else {
                state.overlay = .search
            }
            return []
        case .jumpLoaded(let chat, let messages, let target, let hasNewer):
            let effects = chat == state.selectedChat ? [] : [AppEffect.markRead(chat: chat)]
            state.selectedChat = chat
            state.unreadMarker = 0
            state.conversation = messages
            state.scrollBack = 0
            state.highlighted = target
            state.hasNewer = hasNewer
            state.hasOlder = !messages.isEmpty
            state.focus = .input
            return effects
        case .notice(let text):
            state.notice = text
            return []
        case .themesAvailable(let names):
            state.themeNames = names
            return []
        case .verifiedLoaded(let names):
            state.verified = names
            return []
        case .groupsLoaded(let groups):
            state.groups = Dictionary(groups.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
            return []
        }
    }

    private static func handleEvent(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
        switch event {
        case .connection(let connection):
            state.connection = connection
            return []
        case .messageAdded(let record), .messageUpdated(let record):
            // On a search result's page newer messages are not shown, so nothing is appended there.
            if record.chat == state.selectedChat, !state.hasNewer || state.conversation.contains(where: { $0.localID == record.localID }) {
                if let index = state.conversation.firstIndex(where: { $0.localID == record.localID }) {
                    state.conversation[index] = record
                } else {
                    state.conversation.append(record)
                }
            }
            if case .messageAdded = event, record.status == .received {
                state.typing.remove(record.from)
                let mentioned = record.from != ClientStore.systemSender && Mentions.ranges(of: state.me, in: record.text).isEmpty == false
                var effects: [AppEffect] = record.chat == state.selectedChat ? [.markRead(chat: record.chat), .loadChats] : [.bell, .loadChats]
                if mentioned { effects.append(.mentionBell) }
                return effects
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
        switch state.overlay {
        case .help:
            state.overlay = .none
            return []
        case .search:
            return searchKey(&state, key)
        case .none:
            break
        }
        if state.confirmingQuit {
            state.confirmingQuit = false
            if key == .character("y") || key == .character("Y") { return [.quit] }
            return []
        }
        state.notice = nil
        if key == .character("?"), state.editor.isEmpty {
            state.overlay = .help
            return []
        }
        if case .alt(let c) = key, let position = c.wholeNumberValue, position > 0, state.bindings.command(for: key) == nil {
            guard position <= state.chats.count else { return [] }
            return open(&state, chat: state.chats[position - 1].name)
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
        guard let command = state.bindings.command(for: key) else {
            switch key {
            case .character(let c):
                state.editor.insert(String(c))
                return state.selectedChat.map { [.typing(to: $0)] } ?? []
            case .paste(let text):
                state.editor.insert(text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n"))
            case .escape:
                state.highlighted = nil
            default:
                break
            }
            return []
        }
        return perform(&state, command)
    }

    private static func perform(_ state: inout AppState, _ command: KeyBindings.Command) -> [AppEffect] {
        switch command {
        case .quit: return [.quit]
        case .askQuit: state.confirmingQuit = true
        case .help: state.overlay = .help
        case .nextChat: return select(&state, offset: 1)
        case .previousChat: return select(&state, offset: -1)
        case .nextUnread: return selectNextUnread(&state)
        case .toggleFocus:
            if state.focus == .input, state.editor.text.hasPrefix("/"), !state.editor.text.contains("\n") {
                complete(&state)
            } else {
                state.focus = state.focus == .input ? .chatList : .input
            }
        case .scrollUp:
            state.scrollBack += 10
            // Near the top of what is loaded: fetch the page before it (history is never loaded whole).
            if state.hasOlder, state.scrollBack + 20 >= state.conversation.count,
               let chat = state.selectedChat, let first = state.conversation.first {
                return [.loadOlder(chat: chat, before: first.localID)]
            }
        case .scrollDown:
            if state.scrollBack == 0, state.hasNewer, let chat = state.selectedChat {
                // Leaving a search result's page: back to the newest messages.
                state.hasNewer = false
                state.highlighted = nil
                return [.loadConversation(chat: chat)]
            }
            state.scrollBack = max(0, state.scrollBack - 10)
        case .redraw: break // the terminal layer repaints; nothing changes in the state
        case .reconnect: return [.retryConnection]
        case .send: return submit(&state)
        case .newline: state.editor.insert("\n")
        case .lineStart: state.editor.moveToLineStart()
        case .lineEnd: state.editor.moveToLineEnd()
        case .charLeft: state.editor.moveLeft()
        case .charRight: state.editor.moveRight()
        case .wordLeft: state.editor.moveWordLeft()
        case .wordRight: state.editor.moveWordRight()
        case .killToEnd: state.editor.killToEnd()
        case .killToStart: state.editor.killToStart()
        case .killWord: state.editor.killWordBackward()
        case .yank: state.editor.yank()
        case .deleteChar: state.editor.deleteForward()
        case .backspace: state.editor.backspace()
        case .historyPrevious:
            if state.editor.cursorOnFirstLine { state.editor.recallPrevious() }
        case .historyNext:
            if state.editor.cursorOnLastLine { state.editor.recallNext() }
        case .selectOlder: return selectMessage(&state, older: true)
        case .selectNewer: return selectMessage(&state, older: false)
        }
        return []
    }

    /// Moves the message selection (what `/info`, `/retry` and `/delete` act on): the first
    /// step older selects the newest message; stepping newer past the newest clears it. At the
    /// top of the loaded page the older page is fetched, as scrolling does.
    private static func selectMessage(_ state: inout AppState, older: Bool) -> [AppEffect] {
        guard !state.conversation.isEmpty else { return [] }
        let index = state.conversation.firstIndex { $0.localID == state.highlighted }
        switch (index, older) {
        case (nil, true): state.highlighted = state.conversation.last?.localID
        case (nil, false): return []
        case (let index?, true): state.highlighted = state.conversation[max(0, index - 1)].localID
        case (let index?, false):
            state.highlighted = index + 1 < state.conversation.count ? state.conversation[index + 1].localID : nil
        }
        // The renderer scrolls to the selection; the explicit scroll position starts from the bottom again.
        state.scrollBack = 0
        if older, index == 0 || index == 1, state.hasOlder, let chat = state.selectedChat, let first = state.conversation.first {
            return [.loadOlder(chat: chat, before: first.localID)]
        }
        return []
    }

    private static func submit(_ state: inout AppState) -> [AppEffect] {
        let text = state.editor.text
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        if text.hasPrefix("/") {
            _ = state.editor.submit()
            return command(&state, text)
        }
        guard let chat = state.selectedChat else {
            state.notice = "no chat selected: open one with /new NAME"
            return []
        }
        _ = state.editor.submit()
        state.scrollBack = 0
        if state.hasNewer {
            // Sending from a search result's page: show the newest again, where the message goes.
            state.hasNewer = false
            state.highlighted = nil
            return [.send(text: text, to: chat), .loadConversation(chat: chat)]
        }
        return [.send(text: text, to: chat)]
    }

    private static func searchKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
        let last = max(0, state.searchResults.count - 1)
        switch key {
        case .up, .ctrl("p"): state.searchSelection = max(0, state.searchSelection - 1)
        case .down, .ctrl("n"): state.searchSelection = min(last, state.searchSelection + 1)
        case .pageUp: state.searchSelection = max(0, state.searchSelection - 10)
        case .pageDown: state.searchSelection = min(last, state.searchSelection + 10)
        case .home: state.searchSelection = 0
        case .end: state.searchSelection = last
        case .enter:
            state.overlay = .none
            guard state.searchResults.indices.contains(state.searchSelection) else { return [] }
            let target = state.searchResults[state.searchSelection]
            return [.jump(chat: target.chat, localID: target.localID)]
        case .escape, .ctrl("c"), .ctrl("g"):
            state.overlay = .none
        default:
            if state.bindings.command(for: key) == .quit { return [.quit] }
        }
        return []
    }

    static let commandNames = ["delete", "group", "help", "info", "members", "new", "open", "quit", "retry", "search", "theme", "verify"]

    /// Tab on a `/` line: completes the command name, then a chat name (`/new`)
    /// or a theme name (`/theme`). Several matches: the common start, and a list.
    private static func complete(_ state: inout AppState) {
        let text = state.editor.text
        let head: String
        let word: String
        let candidates: [String]
        if let space = text.firstIndex(of: " ") {
            let command = String(text[text.index(after: text.startIndex)..<space])
            head = String(text[...space])
            word = String(text[text.index(after: space)...])
            switch command {
            case "new", "open", "verify": candidates = state.chats.map(\.name)
            case "theme": candidates = state.themeNames
            default: candidates = []
            }
        } else {
            head = "/"
            word = String(text.dropFirst())
            candidates = commandNames
        }
        let matches = candidates.filter { $0.hasPrefix(word) }
        switch matches.count {
        case 0:
            state.notice = candidates.isEmpty ? "nothing to complete" : "no match for '\(word)'"
        case 1:
            state.editor.replace(with: head + matches[0] + (head == "/" ? " " : ""))
        default:
            var common = matches[0]
            for match in matches.dropFirst() {
                while !match.hasPrefix(common) { common.removeLast() }
            }
            state.editor.replace(with: head + common)
            state.notice = matches.joined(separator: " ")
        }
    }

    private static func command(_ state: inout AppState, _ line: String) -> [AppEffect] {
        let parts = line.dropFirst().split(separator: " ", maxSplits: 1).map(String.init)
        switch parts.first ?? "" {
        case "quit", "q": return [.quit]
        case "help": state.overlay = .help
        case "search", "s":
            let query = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            guard !query.isEmpty else {
                state.notice = "usage: /search TEXT"
                return []
            }
            return [.search(text: query)]
        case "verify":
            let words = parts.count == 2 ? parts[1].split(separator: " ").map(String.init) : []
            guard let name = words.first ?? state.selectedChat else {
                state.notice = "usage: /verify NAME (then /verify NAME yes once the numbers match)"
                return []
            }
            return [.verify(name: name, mark: words.dropFirst().first == "yes")]
        case "theme":
            guard parts.count == 2 else {
                state.notice = "usage: /theme NAME (\(state.themeNames.joined(separator: ", ")))"
                return []
            }
            return [.setTheme(name: parts[1].trimmingCharacters(in: .whitespaces))]
        case "retry", "delete":
            // The selected message if it is a failed one of ours, else every failed one in the chat.
            let allFailed = state.conversation.filter { $0.isOutgoing && $0.status == .failed }.map(\.localID)
            let failed = allFailed.contains { $0 == state.highlighted } ? [state.highlighted!] : allFailed
            guard let chat = state.selectedChat, !failed.isEmpty else {
                state.notice = "no failed messages in this chat"
                return []
            }
            return parts[0] == "retry" ? [.retry(localIDs: failed)] : [.deleteFailed(localIDs: failed, chat: chat)]
        case "group", "g":
            return groupCommand(&state, parts.count == 2 ? parts[1] : "")
        case "members":
            guard let group = state.selectedGroup else {
                state.notice = "/members works in a group chat"
                return []
            }
            state.notice = "#\(group.name) “\(group.title)”, \(group.members.count) members: "
                + group.members.map { group.admins.contains($0) ? "\($0) (admin)" : $0 }.joined(separator: ", ")
            return []
        case "info":
            let own = state.conversation.filter { $0.from == state.me && $0.to.hasPrefix("#") }
            if let selected = state.conversation.first(where: { $0.localID == state.highlighted }), !own.contains(selected) {
                state.notice = "/info shows who received one of your own group messages: select one with Ctrl-Up (Esc: none, for the newest)"
                return []
            }
            guard let message = own.first(where: { $0.localID == state.highlighted }) ?? own.last else {
                state.notice = "/info shows who received your selected (Ctrl-Up) or newest message in a group chat; there is none here"
                return []
            }
            return [.memberReceipts(messageID: message.id)]
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

    static let groupUsage = "usage: /group create NAME MEMBER… | add NAME MEMBER… | remove NAME MEMBER… | leave [NAME] | rename NAME TITLE | promote|demote NAME MEMBER…"

    /// `/group ACTION [NAME] …`; NAME may be left out in a group chat (that group is meant).
    private static func groupCommand(_ state: inout AppState, _ arguments: String) -> [AppEffect] {
        var words = arguments.split(separator: " ").map(String.init)
        guard let verb = words.first, let action = GroupAction(rawValue: verb) else {
            state.notice = groupUsage
            return []
        }
        words.removeFirst()
        let current = state.selectedGroup?.name
        func takeName() -> String? {
            if let first = words.first {
                let bare = first.hasPrefix("#") ? String(first.dropFirst()) : first
                if first.hasPrefix("#") || state.groups[bare] != nil || action == .create || current == nil {
                    words.removeFirst()
                    return bare
                }
            }
            return current
        }
        guard let name = takeName(), Validation.isValidName(name) else {
            state.notice = action == .create ? "usage: /group create NAME MEMBER… (NAME: 3-32 of a-z 0-9 _ . -)" : groupUsage
            return []
        }
        let members = words.map { $0.hasPrefix("@") ? String($0.dropFirst()) : $0 }
        switch action {
        case .create:
            guard !members.isEmpty else {
                state.notice = "usage: /group create NAME MEMBER…"
                return []
            }
            return [.group(GroupRequest(name: name, action: .create, members: members, title: name))]
        case .rename:
            let title = words.joined(separator: " ")
            guard GroupLimits.isValidTitle(title) else {
                state.notice = "usage: /group rename NAME TITLE"
                return []
            }
            return [.group(GroupRequest(name: name, action: .rename, title: title))]
        case .leave:
            return [.group(GroupRequest(name: name, action: .leave))]
        case .add, .remove, .promote, .demote:
            guard !members.isEmpty else {
                state.notice = "usage: /group \(action.rawValue) NAME MEMBER…"
                return []
            }
            if let bad = members.first(where: { !Validation.isValidName($0) }) {
                state.notice = "'\(bad)' is not a valid user name"
                return []
            }
            return [.group(GroupRequest(name: name, action: action, members: members))]
        }
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
        state.hasNewer = false
        state.highlighted = nil
        return [.loadConversation(chat: chat), .markRead(chat: chat)]
    }
}
