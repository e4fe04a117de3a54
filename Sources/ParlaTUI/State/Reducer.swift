import Foundation
import ParlaClient
import ParlaProtocol

/// The pure heart of the UI: applies one action to the state and says which
/// effects the runner must perform.
public enum Reducer {
    /// How often a "typing" notice is repeated while the user keeps typing (the peer's
    /// copy lasts `AppState.typingLasts`).
    static let typingEvery: TimeInterval = 3
    /// Lines one turn of the mouse wheel scrolls.
    static let wheelLines = 3

    public static func reduce(_ state: inout AppState, _ action: AppAction) -> [AppEffect] {
        switch action {
        case .key(let key):
            state.lastKeyAt = state.now
            var effects = handleKey(&state, key)
            effects += readIfSeen(&state)
            return effects
        case .engine(let event):
            return handleEvent(&state, event)
        case .chatsLoaded(let chats):
            state.chats = chats
            if state.selectedChat == nil, let first = chats.first {
                return open(&state, chat: first.name)
            }
            return []
        case .conversationLoaded(let chat, let messages):
            guard chat == state.selectedChat else { return [] }
            // Messages that arrived (or were sent) while the page was being read are newer
            // than it: they stay, after it.
            let newest = messages.last?.localID ?? 0
            state.conversation = messages + state.conversation.filter { $0.chat == chat && $0.localID > newest }
            state.hasOlder = !messages.isEmpty
            let received = messages.filter { !$0.isOutgoing }.map(\.localID)
            state.unreadFrom = state.unreadMarker > 0 ? received.suffix(state.unreadMarker).first : nil
            state.hasNewer = false
            state.highlighted = nil
            return [.loadReactions(chat: chat)]
        case .previewShown(let name):
            state.overlay = .preview
            state.previewName = name
            return []
        case .pictureUndrawable(let path):
            state.undrawablePictures.insert(path)
            return []
        case .pathCompletions(let head, let partial, let matches):
            pathCompleted(&state, head: head, partial: partial, matches: matches)
            return []
        case .reactionsLoaded(let chat, let reactions):
            if chat == state.selectedChat { state.reactions = reactions }
            return []
        case .olderLoaded(let chat, let messages):
            guard chat == state.selectedChat else { return [] }
            state.conversation.insert(contentsOf: messages.filter { $0.localID < (state.conversation.first?.localID ?? .max) }, at: 0)
            state.hasOlder = !messages.isEmpty
            return []
        case .oldestLoaded(let chat, let messages, let hasNewer):
            guard chat == state.selectedChat else { return [] }
            state.conversation = messages
            state.hasOlder = false
            state.hasNewer = hasNewer
            state.highlighted = nil
            state.scrollAnchor = nil
            // As far up as there is; the renderer stops at the first line.
            state.scrollBack = Int.max / 4
            return [.loadReactions(chat: chat)]
        case .queuedCount(let count):
            state.queuedCount = count
            return []
        case .tick(let now):
            state.now = now
            state.typing = state.typing.filter { $0.value > now }
            return saveDraftIfChanged(&state)
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
            let effects = chat == state.selectedChat ? [] : saveDraftIfChanged(&state) + [AppEffect.markRead(chat: chat)]
            if chat != state.selectedChat { state.editor.replace(with: state.drafts[chat] ?? "") }
            state.selectedChat = chat
            state.unreadMarker = 0
            state.unreadFrom = nil
            state.conversation = messages
            state.scrollBack = 0
            state.scrollAnchor = nil
            state.newBelow = 0
            state.highlighted = target
            state.hasNewer = hasNewer
            state.hasOlder = !messages.isEmpty
            state.focus = .input
            return effects + [.loadReactions(chat: chat)]
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
        case .viewport(let viewport):
            state.viewport = viewport
            // Back at the newest line (by scrolling or because the view grew): what was below is seen.
            if viewport.scroll == 0, state.scrollAnchor != nil || state.newBelow > 0 {
                state.scrollAnchor = nil
                state.newBelow = 0
                state.scrollBack = 0
                return readIfSeen(&state)
            }
            return []
        case .inputRestored(let drafts, let history):
            state.drafts = drafts
            state.savedDrafts = drafts
            state.editor.restoreHistory(history)
            if state.editor.isEmpty, let chat = state.selectedChat, let draft = drafts[chat] {
                state.editor.replace(with: draft)
            }
            return []
        case .userChecked(let name, let result):
            switch result {
            case .exists:
                return []
            case .unknown:
                state.notice = "there is no user '\(name)' on this relay"
                // The chat opened at once (so typing could start) goes away if nothing is in it.
                guard state.selectedChat == name, state.conversation.isEmpty else { return [] }
                state.selectedChat = nil
                state.editor.replace(with: "")
                return [.loadChats]
            case .unreachable:
                state.notice = "cannot check '\(name)' while offline: messages wait in the outbox, and fail if there is no such user"
                return []
            }
        }
    }

    /// The user is at the newest messages and active: what is waiting in the open chat is read.
    private static func readIfSeen(_ state: inout AppState) -> [AppEffect] {
        guard state.pendingRead, state.userIsActive, !isScrolled(state), state.overlay == .none, let chat = state.selectedChat else { return [] }
        state.pendingRead = false
        return [.markRead(chat: chat)]
    }

    /// Scrolled up from the newest line (or showing a search result's page).
    static func isScrolled(_ state: AppState) -> Bool {
        state.scrollBack > 0 || state.scrollAnchor != nil || state.hasNewer
    }

    /// The unsent text of the open chat, kept in the profile when it changed (on every tick,
    /// and when the user leaves the chat or quits).
    private static func saveDraftIfChanged(_ state: inout AppState) -> [AppEffect] {
        guard let chat = state.selectedChat else { return [] }
        let text = state.editor.text
        let saved = state.savedDrafts[chat] ?? ""
        guard text != saved else { return [] }
        state.drafts[chat] = text.isEmpty ? nil : text
        state.savedDrafts[chat] = text.isEmpty ? nil : text
        return [.saveDraft(chat: chat, text: text)]
    }



    private static func handleEvent(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
        switch event {
        case .transfer(let progress):
            state.transfers[progress.messageID] = progress.bytes >= progress.total ? nil : progress
            return []
        case .connection(let connection):
            state.connection = connection
            if connection != .online {
                // Offline, nobody's presence or typing is known: show none rather than stale.
                state.online = []
                state.typing = [:]
            }
            return []
        case .messageAdded(let record), .messageUpdated(let record):
            // On a search result's page newer messages are not shown, so nothing is appended there.
            let isNew = !state.conversation.contains { $0.localID == record.localID }
            if record.chat == state.selectedChat, !state.hasNewer || !isNew {
                if let index = state.conversation.firstIndex(where: { $0.localID == record.localID }) {
                    if record.deleted == .me {
                        // Deleted from this history: it leaves the conversation.
                        state.conversation.remove(at: index)
                        if state.highlighted == record.localID { state.highlighted = nil }
                    } else {
                        state.conversation[index] = record
                    }
                } else if record.deleted == .me {
                    // Never shown, and now never will be.
                } else {
                    if state.scrollBack > 0, state.scrollAnchor == nil {
                        // Keep the view where it is: the renderer counts the lines below this message.
                        state.scrollAnchor = state.conversation.last?.localID
                    }
                    state.conversation.append(record)
                }
            }
            guard case .messageAdded = event, record.status == .received else {
                // An update may be a reaction, an edit or a deletion: the reactions shown are read again.
                return record.chat == state.selectedChat && event != .messageAdded(record) ? [.loadChats, .loadReactions(chat: record.chat)] : [.loadChats]
            }
            state.typing[record.from] = nil
            let system = record.from == ClientStore.systemSender
            let mentioned = !system && Mentions.ranges(of: state.me, in: record.text).isEmpty == false
            let muted = state.isMuted(record.chat)
            var effects: [AppEffect] = []
            if record.chat == state.selectedChat {
                if isScrolled(state) { state.newBelow += 1 }
                if isScrolled(state) || !state.userIsActive {
                    // Not seen yet: it stays unread, below an "unread" line, until the user is back.
                    state.pendingRead = true
                    if state.unreadFrom == nil || state.unreadMarker == 0 {
                        state.unreadFrom = record.localID
                        state.unreadMarker = 0
                    }
                    state.unreadMarker += 1
                    if !muted, !system, !state.userIsActive { effects.append(.notify(chat: record.chat, from: record.from, text: record.text)) }
                } else {
                    effects.append(.markRead(chat: record.chat))
                }
            } else if !muted, !system {
                effects.append(.notify(chat: record.chat, from: record.from, text: record.text))
            }
            effects.append(.loadChats)
            if mentioned, !muted { effects.append(.mentionBell) }
            return effects
        case .typing(let from):
            state.typing[from] = state.now.addingTimeInterval(AppState.typingLasts)
            return []
        case .presence(let user, let online, _):
            if online { state.online.insert(user) } else {
                state.online.remove(user)
                state.typing[user] = nil
            }
            return []
        case .notice(let text):
            state.notice = text
            return []
        case .synced:
            return [.loadChats]
        }
    }

    private static func wheel(_ state: inout AppState, lines: Int) -> [AppEffect] {
        switch state.overlay {
        case .help:
            state.helpScroll = max(0, state.helpScroll + (lines < 0 ? -1 : 1) * wheelLines)
            return []
        case .search:
            let last = max(0, state.searchResults.count - 1)
            state.searchSelection = min(last, max(0, state.searchSelection + (lines < 0 ? -1 : 1)))
            return []
        case .preview:
            return []
        case .none:
            return lines < 0 ? scroll(&state, up: -lines * wheelLines) : scroll(&state, down: lines * wheelLines)
        }
    }

    /// The scroll position as last drawn (with arrivals below counted in).
    private static func currentScroll(_ state: AppState) -> Int {
        state.scrollAnchor != nil ? state.viewport.scroll : min(state.scrollBack, state.viewport.maxScroll)
    }

    private static func scroll(_ state: inout AppState, up lines: Int) -> [AppEffect] {
        let start = currentScroll(state)
        state.scrollAnchor = nil
        state.scrollBack = min(start + lines, max(state.viewport.maxScroll, start))
        // Near the top of what is loaded: fetch the page before it (history is never loaded whole).
        if state.hasOlder, state.scrollBack + lines >= state.viewport.maxScroll,
           let chat = state.selectedChat, let first = state.conversation.first {
            return [.loadOlder(chat: chat, before: first.localID)]
        }
        return []
    }

    private static func scroll(_ state: inout AppState, down lines: Int) -> [AppEffect] {
        let start = currentScroll(state)
        if start == 0, state.hasNewer, let chat = state.selectedChat {
            // Leaving a search result's (or the oldest) page: back to the newest messages.
            return toBottom(&state, chat: chat)
        }
        state.scrollAnchor = nil
        state.scrollBack = max(0, start - lines)
        if state.scrollBack == 0 { state.newBelow = 0 }
        return []
    }

    private static func toBottom(_ state: inout AppState, chat: String) -> [AppEffect] {
        state.scrollBack = 0
        state.scrollAnchor = nil
        state.newBelow = 0
        state.highlighted = nil
        guard state.hasNewer else { return [] }
        state.hasNewer = false
        return [.loadConversation(chat: chat)]
    }

    private static func handleKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
        switch state.overlay {
        case .preview:
            // Any key puts the conversation back.
            state.overlay = .none
            state.previewName = nil
            return [.closePreview]
        case .help:
            switch key {
            case .up, .ctrl("p"): state.helpScroll = max(0, state.helpScroll - 1)
            case .down, .ctrl("n"): state.helpScroll += 1
            case .pageUp: state.helpScroll = max(0, state.helpScroll - 10)
            case .pageDown: state.helpScroll += 10
            case .home: state.helpScroll = 0
            default: state.overlay = .none
            }
            return []
        case .search:
            return searchKey(&state, key)
        case .none:
            break
        }
        if state.confirmingQuit {
            state.confirmingQuit = false
            if key == .character("y") || key == .character("Y") { return saveDraftIfChanged(&state) + [.quit] }
            return []
        }
        state.notice = nil
        // "?" opens help from the chat list; in the input it is a character (a lone "?" is a message).
        if key == .character("?"), state.focus == .chatList {
            state.overlay = .help
            state.helpScroll = 0
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
                return typingNotice(&state)
            case .paste(let text):
                state.editor.insert(text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n"))
            case .escape:
                state.highlighted = nil
            case .wheelUp:
                return wheel(&state, lines: -1)
            case .wheelDown:
                return wheel(&state, lines: 1)
            default:
                break
            }
            return []
        }
        return perform(&state, command)
    }

    /// Tells the peer "typing" at most every few seconds, and never for a /command.
    private static func typingNotice(_ state: inout AppState) -> [AppEffect] {
        guard let chat = state.selectedChat, !state.editor.text.hasPrefix("/") else { return [] }
        if let last = state.typingSent, last.chat == chat, state.now.timeIntervalSince(last.at) < typingEvery { return [] }
        state.typingSent = TypingSent(chat: chat, at: state.now)
        return [.typing(to: chat)]
    }

    private static func perform(_ state: inout AppState, _ command: KeyBindings.Command) -> [AppEffect] {
        let page = max(1, state.viewport.rows - 2)
        switch command {
        case .quit: return saveDraftIfChanged(&state) + [.quit]
        case .askQuit: state.confirmingQuit = true
        case .help:
            state.overlay = .help
            state.helpScroll = 0
        case .nextChat: return select(&state, offset: 1)
        case .previousChat: return select(&state, offset: -1)
        case .nextUnread: return selectNextUnread(&state)
        case .toggleFocus:
            if state.focus == .input, state.editor.text.hasPrefix("/"), !state.editor.text.contains("\n") {
                return complete(&state)
            } else if state.focus == .input, completeName(&state) {
                break
            } else {
                state.focus = state.focus == .input ? .chatList : .input
            }
        case .scrollUp: return scroll(&state, up: page)
        case .scrollDown: return scroll(&state, down: page)
        case .scrollTop:
            guard let chat = state.selectedChat else { return [] }
            state.highlighted = nil
            if state.hasOlder { return [.loadOldest(chat: chat)] }
            state.scrollAnchor = nil
            state.scrollBack = Int.max / 4
        case .scrollBottom:
            guard let chat = state.selectedChat else { return [] }
            return toBottom(&state, chat: chat)
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
            // In a draft of several lines, Up moves between them; on the first line it recalls.
            if state.editor.cursorOnFirstLine { state.editor.recallPrevious() } else { state.editor.moveLineUp() }
        case .historyNext:
            if state.editor.cursorOnLastLine { state.editor.recallNext() } else { state.editor.moveLineDown() }
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
        if state.highlighted != nil { state.notice = selectionHint }
        if older, index == 0 || index == 1, state.hasOlder, let chat = state.selectedChat, let first = state.conversation.first {
            return [.loadOlder(chat: chat, before: first.localID)]
        }
        return []
    }

    private static func submit(_ state: inout AppState) -> [AppEffect] {
        var text = state.editor.text
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        if text.hasPrefix("/"), !text.hasPrefix("//") {
            _ = state.editor.submit()
            return [.rememberInput(text)] + command(&state, text) + saveDraftIfChanged(&state)
        }
        guard let chat = state.selectedChat else {
            state.notice = "no chat selected: open one with /new NAME"
            return []
        }
        _ = state.editor.submit()
        let remembered = text
        // "//" sends a message that starts with "/".
        if text.hasPrefix("//") { text.removeFirst() }
        var effects: [AppEffect] = [.send(text: text, to: chat), .rememberInput(remembered)] + saveDraftIfChanged(&state)
        state.typingSent = nil
        state.scrollAnchor = nil
        state.newBelow = 0
        state.scrollBack = 0
        if state.hasNewer {
            // Sending from a search result's page: show the newest again, where the message goes.
            state.hasNewer = false
            state.highlighted = nil
            effects.append(.loadConversation(chat: chat))
        }
        return effects
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

    static let commandNames = ["accept", "close", "decline", "delete", "edit", "group", "help", "info", "members", "mute", "new", "open", "pin", "quit",
                               "react", "reply", "retry", "save", "search", "theme", "timer", "unmute", "unpin", "verify", "file", "view"]

    /// Tab on a `/` line: completes the command name, then a chat name (`/new`)
    /// or a theme name (`/theme`). Several matches: the common start, and a list.
    private static func complete(_ state: inout AppState) -> [AppEffect] {
        let text = state.editor.text
        let head: String
        let word: String
        let candidates: [String]
        if let space = text.firstIndex(of: " ") {
            let command = String(text[text.index(after: text.startIndex)..<space])
            head = String(text[...space])
            word = String(text[text.index(after: space)...])
            switch command {
            case "new", "open", "verify", "mute", "unmute", "pin", "unpin", "close": candidates = state.chats.map(\.name)
            case "theme": candidates = state.themeNames
            case "file", "f", "save":
                // The file system is the runner's: it lists, and `pathCompletions` completes.
                return [.completePath(head: head, partial: word)]
            default: candidates = []
            }
        } else {
            head = "/"
            word = String(text.dropFirst())
            candidates = commandNames
        }
        applyCompletion(&state, head: head, word: word, matches: candidates.filter { $0.hasPrefix(word) }, nothing: candidates.isEmpty,
                        space: head == "/")
        return []
    }

    /// One match: it replaces the word (and a space follows, when `space`); several: their
    /// common start, and the list in the status line.
    static func applyCompletion(_ state: inout AppState, head: String, word: String, matches: [String], nothing: Bool, space: Bool,
                                shown: (String) -> String = { $0 }) {
        switch matches.count {
        case 0:
            state.notice = nothing ? "nothing to complete" : "no match for '\(word)'"
        case 1:
            state.editor.replace(with: head + matches[0] + (space ? " " : ""))
        default:
            var common = matches[0]
            for match in matches.dropFirst() {
                while !match.hasPrefix(common) { common.removeLast() }
            }
            state.editor.replace(with: head + common)
            state.notice = matches.map(shown).joined(separator: " ")
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
        case "timer":
            guard let chat = state.selectedChat else {
                state.notice = "no chat selected: open one with /new NAME"
                return []
            }
            guard parts.count == 2 else {
                let current = state.chats.first { $0.name == chat }?.timer
                state.notice = (current.map { "messages here disappear after \(DisappearingTimer.describe($0))" } ?? "messages here do not disappear")
                    + "; /timer 1h (or 30s, 5m, 1d, 1w) or /timer off"
                return []
            }
            guard let seconds = DisappearingTimer.parse(parts[1]) else {
                state.notice = "'\(parts[1])' is not a timer: \(DisappearingTimer.usage)"
                return []
            }
            return [.setTimer(chat: chat, seconds: seconds)]
        case "file", "f":
            guard let chat = state.selectedChat else {
                state.notice = "no chat selected: open one with /new NAME"
                return []
            }
            let argument = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            guard !argument.isEmpty else {
                state.notice = "usage: /file PATH [caption] (Tab completes the path; a path with spaces in quotes)"
                return []
            }
            let (path, caption) = splitPath(argument)
            return [.sendFile(path: path, to: chat, caption: caption)]
        case "view":
            let file = state.conversation.first(where: { $0.localID == state.highlighted && $0.attachment?.localPath != nil })
                ?? state.conversation.last(where: { $0.attachment.map { $0.localPath != nil && ImagePreview.looksLikePicture($0.name) } ?? false })
            guard let file, let attachment = file.attachment, let path = attachment.localPath else {
                state.notice = "/view shows the selected (Ctrl-Up) or newest picture here once it is downloaded; there is none"
                return []
            }
            state.highlighted = nil
            return [.preview(path: path, name: attachment.name)]
        case "save":
            guard let chat = state.selectedChat,
                  let target = state.conversation.first(where: { $0.localID == state.highlighted }) ?? state.conversation.last(where: { $0.attachment != nil }),
                  target.attachment != nil
            else {
                state.notice = "/save [DIR] saves the selected (Ctrl-Up) or newest file here; there is none"
                return []
            }
            let directory = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            state.highlighted = nil
            return [.saveFile(chat: chat, id: target.id, directory: directory.isEmpty ? nil : directory)]
        case "reply", "edit", "react":
            return messageCommand(&state, parts[0], parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        case "delete" where parts.count == 2 || state.conversation.contains { $0.localID == state.highlighted && $0.status != .failed }:
            return messageCommand(&state, "delete", parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
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
                state.notice = "usage: /new NAME (a user) or /new #GROUP"
                return []
            }
            return openByName(&state, parts[1].trimmingCharacters(in: .whitespaces))
        case "accept", "decline":
            let named = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
            let chat = named.map { $0.hasPrefix("#") ? $0 : "#" + $0 } ?? state.selectedChat
            guard let chat, let group = ClientStore.groupName(ofChat: chat), state.invitation(chat) != nil else {
                state.notice = "no invitation here: /\(parts[0]) [#GROUP] answers a group someone you never wrote to put you in"
                return []
            }
            let accept = parts[0] == "accept"
            if !accept, chat == state.selectedChat {
                // Declined, its chat is deleted: the list opens another.
                state.selectedChat = nil
                state.conversation = []
                state.editor.replace(with: "")
            }
            return [.answerInvitation(group: group, accept: accept)]
        case "pin", "unpin", "mute", "unmute", "close":
            let named = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
            guard let chat = named ?? state.selectedChat else {
                state.notice = "usage: /\(parts[0]) [CHAT]"
                return []
            }
            guard state.chats.contains(where: { $0.name == chat }) else {
                state.notice = "no chat '\(chat)'"
                return []
            }
            let setting: ChatSetting = switch parts[0] {
            case "pin": .pin(true)
            case "unpin": .pin(false)
            case "mute": .mute(true)
            case "unmute": .mute(false)
            default: .close
            }
            if setting == .close, chat == state.selectedChat {
                // The list opens another chat once this one is gone from it.
                var effects = saveDraftIfChanged(&state)
                state.selectedChat = nil
                state.conversation = []
                state.editor.replace(with: "")
                effects.append(.chatSetting(chat: chat, setting))
                return effects
            }
            return [.chatSetting(chat: chat, setting)]
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
        var effects = saveDraftIfChanged(&state)
        state.selectedChat = chat
        state.unreadMarker = state.chats.first { $0.name == chat }?.unread ?? 0
        state.unreadFrom = nil
        state.conversation = []
        state.reactions = [:]
        state.scrollBack = 0
        state.scrollAnchor = nil
        state.newBelow = 0
        state.pendingRead = false
        state.hasNewer = false
        state.highlighted = nil
        state.editor.replace(with: state.drafts[chat] ?? "")
        effects.append(.loadConversation(chat: chat))
        // Opened by the user (or at start-up with them at the keyboard): read. Otherwise it waits.
        if state.userIsActive { effects.append(.markRead(chat: chat)) } else { state.pendingRead = true }
        return effects
    }

    /// `/new NAME`: opens the chat; a name with no chat yet is also checked with the relay.
    private static func openByName(_ state: inout AppState, _ typed: String) -> [AppEffect] {
        let name = typed.hasPrefix("@") ? String(typed.dropFirst()) : typed
        if state.chats.contains(where: { $0.name == name }) { return open(&state, chat: name) }
        if name.hasPrefix("#") {
            guard state.groups[String(name.dropFirst())] != nil else {
                state.notice = "no group '\(name)': /group create NAME MEMBER… makes one"
                return []
            }
            return open(&state, chat: name)
        }
        guard Validation.isValidName(name) else {
            state.notice = "'\(name)' is not a valid user name (3-32 of a-z 0-9 _ . -)"
            return []
        }
        guard name != state.me else {
            state.notice = "that is you; /new NAME opens a chat with someone else"
            return []
        }
        // Opened at once, so typing can start; the relay's answer follows (an unknown name closes it again).
        return open(&state, chat: name) + [.checkUser(name: name)]
    }

    /// Tab after part of a name (or "@" and part of a name): completes it from the group's
    /// members and the chats. False when there is no word to complete (Tab then moves focus).
    private static func completeName(_ state: inout AppState) -> Bool {
        let before = state.editor.characters[..<state.editor.cursor]
        let wordStart = before.lastIndex(where: { $0.isWhitespace }).map { $0 + 1 } ?? 0
        var word = String(before[wordStart...])
        guard !word.isEmpty else { return false }
        let mention = word.hasPrefix("@")
        if mention { word.removeFirst() }
        var names = state.selectedGroup?.members ?? []
        names += state.chats.map(\.name).filter { !$0.hasPrefix("#") }
        if let chat = state.selectedChat, !chat.hasPrefix("#") { names.append(chat) }
        var seen = Set<String>()
        let matches = names.filter { $0 != state.me && $0.hasPrefix(word) && seen.insert($0).inserted }
        guard let first = matches.first else {
            state.notice = "no name starts with '\(word)'"
            return true
        }
        var common = first
        for match in matches.dropFirst() {
            while !match.hasPrefix(common) { common.removeLast() }
        }
        let completed = (mention ? "@" : "") + common + (matches.count == 1 ? (wordStart == 0 && !mention ? ": " : " ") : "")
        state.editor.replaceWord(from: wordStart, with: completed)
        if matches.count > 1 { state.notice = matches.joined(separator: " ") }
        return true
    }
}
