import Foundation
import ParlaClient
import ParlaProtocol

/// Everything the screen shows, as plain data. Changed only by `reduce`.
public struct AppState: Sendable, Equatable {
    public enum Focus: Sendable, Equatable { case input, chatList }
    public enum Overlay: Sendable, Equatable { case none, help, search, preview }

    public var me: String
    public var chats: [ChatSummary] = []
    public var selectedChat: String?
    /// The loaded page of the selected chat, oldest first (never the whole history).
    public var conversation: [MessageRecord] = []
    public var connection: ConnectionState = .offline
    public var queuedCount = 0
    public var editor = LineEditor()
    public var focus = Focus.input
    /// How many conversation lines the view is scrolled up from the newest.
    public var scrollBack = 0
    /// The conversation pane as last drawn (rows, and how far it can scroll), so paging
    /// moves by a screenful and never scrolls past the top.
    public var viewport = Viewport()
    /// Set when messages arrive while scrolled up: the newest message before them, so the
    /// view keeps showing what it showed (the renderer counts the lines below it).
    public var scrollAnchor: Int64?
    /// Messages that arrived below the view while it was scrolled up ("new messages ↓").
    public var newBelow = 0
    /// The open chat has messages not yet marked read: they arrived while the user was
    /// away from the keyboard or scrolled up. They are marked read when the user is back
    /// at the newest messages.
    public var pendingRead = false
    /// When the user last pressed a key: arrivals count as seen only while they are active.
    public var lastKeyAt: Date?
    public static let activeFor: TimeInterval = 60
    /// Unsent text per chat, and what the profile holds of it (saved when they differ).
    public var drafts: [String: String] = [:]
    public var savedDrafts: [String: String] = [:]
    /// How far the help overlay is scrolled.
    public var helpScroll = 0
    public var overlay = Overlay.none
    /// Who is typing, until when: a notice lasts a few seconds unless it is renewed.
    public var typing: [String: Date] = [:]
    public static let typingLasts: TimeInterval = 6
    /// When this user last told a chat "typing", so it is repeated only every few seconds.
    public var typingSent: TypingSent?
    public var online: Set<String> = []
    public var notice: String?
    public var confirmingQuit = false
    /// How many messages were unread when the chat was opened: the "unread" separator goes before them.
    public var unreadMarker = 0
    /// The message the "unread" separator goes before, fixed when the page loads so
    /// that messages arriving later do not move it.
    public var unreadFrom: Int64?
    /// False once scrolling back found the start of the history.
    public var hasOlder = true
    public var now: Date
    public var bindings = KeyBindings.default
    /// What `/search` found, newest first, and which result is selected.
    public var searchQuery = ""
    public var searchResults: [MessageRecord] = []
    public var searchSelection = 0
    /// The message a search jumped to; the loaded page then ends there, so newer
    /// messages are not shown until the user returns to the newest (`hasNewer`).
    public var highlighted: Int64?
    /// Reactions in the conversation shown: message id → emoji → who, in the order they reacted.
    public var reactions: [String: [String: [String]]] = [:]
    /// Files moving now, by message id.
    public var transfers: [String: TransferProgress] = [:]
    /// The picture `/view` shows (the terminal draws it over an empty screen).
    public var previewName: String?
    /// Pictures the terminal layer could not draw inside the conversation (they go back to
    /// a 📎 line instead of an empty box).
    public var undrawablePictures: Set<String> = []
    public var hasNewer = false
    /// Theme names on offer, for `/theme` completion.
    public var themeNames: [String] = []
    /// Contacts whose safety number the user confirmed.
    public var verified: Set<String> = []
    /// Groups this device knows, by name (without '#').
    public var groups: [String: ClientStore.GroupState] = [:]

    /// The selected chat's group, if it is one.
    public var selectedGroup: ClientStore.GroupState? {
        selectedChat.flatMap(ClientStore.groupName(ofChat:)).flatMap { groups[$0] }
    }

    public init(me: String, now: Date = Date()) {
        self.me = me
        self.now = now
    }

    /// Unread messages in chats that are not muted (the title and status line count these);
    /// an invitation counts as muted until it is accepted.
    public var totalUnread: Int { chats.reduce(0) { $0 + ($1.muted || $1.invitedBy != nil ? 0 : $1.unread) } }

    public func isTyping(_ name: String) -> Bool { typing[name].map { $0 > now } ?? false }

    public func isMuted(_ chat: String) -> Bool { chats.first { $0.name == chat }.map { $0.muted || $0.invitedBy != nil } ?? false }

    /// Who invited us to `chat` (a group), while the invitation stands.
    public func invitation(_ chat: String) -> String? { chats.first { $0.name == chat }?.invitedBy }

    /// The user pressed a key recently, so what appears in the open chat is seen.
    public var userIsActive: Bool { lastKeyAt.map { now.timeIntervalSince($0) < Self.activeFor } ?? false }
}

public struct TypingSent: Sendable, Equatable {
    public var chat: String
    public var at: Date
}

/// The conversation pane as drawn: its rows, the scroll in force and the most there is.
public struct Viewport: Sendable, Equatable {
    public var rows = 20
    public var scroll = 0
    public var maxScroll = 0

    public init(rows: Int = 20, scroll: Int = 0, maxScroll: Int = 0) {
        self.rows = rows
        self.scroll = scroll
        self.maxScroll = maxScroll
    }
}

/// What happens to the state.
public enum AppAction: Sendable, Equatable {
    case key(Key)
    case engine(ClientEvent)
    case chatsLoaded([ChatSummary])
    case conversationLoaded(chat: String, messages: [MessageRecord])
    /// An older page of the selected chat, to put before what is loaded.
    case olderLoaded(chat: String, messages: [MessageRecord])
    case queuedCount(Int)
    case tick(Date)
    case searchLoaded(query: String, results: [MessageRecord])
    /// The page ending at `target`, after Enter on a search result.
    case jumpLoaded(chat: String, messages: [MessageRecord], target: Int64, hasNewer: Bool)
    case notice(String)
    case themesAvailable([String])
    case verifiedLoaded(Set<String>)
    case groupsLoaded([ClientStore.GroupState])
    /// What the renderer drew of the conversation pane.
    case viewport(Viewport)
    /// Drafts and input history kept in the profile, at start-up.
    case inputRestored(drafts: [String: String], history: [String])
    /// The first page of a chat (jump to the top).
    case oldestLoaded(chat: String, messages: [MessageRecord], hasNewer: Bool)
    /// The answer to `/new NAME`.
    case userChecked(name: String, result: UserLookup)
    /// The picture is on its way to the screen.
    case previewShown(name: String)
    /// A picture kept a box in the conversation but cannot be drawn there (unreadable, not a picture).
    case pictureUndrawable(path: String)
    /// Paths `partial` could become (directories end in "/").
    case pathCompletions(head: String, partial: String, matches: [String])
    /// Reactions in `chat`: message id → emoji → who.
    case reactionsLoaded(chat: String, reactions: [String: [String: [String]]])
}

/// What the runner must do for the state's sake (I/O stays out of `reduce`).
public enum AppEffect: Sendable, Equatable {
    case send(text: String, to: String)
    /// A text answering message `replyTo` of the chat.
    case reply(text: String, to: String, replyTo: String)
    /// Edit, delete or react to message `id` of `chat`.
    case changeMessage(chat: String, id: String, MessageChange)
    /// Send the file at `path` to `to`.
    case sendFile(path: String, to: String, caption: String?)
    /// Copy the file of message `id` into `directory` (nil: the current directory).
    case saveFile(chat: String, id: String, directory: String?)
    /// Show the picture at `path` with the terminal's graphics.
    case preview(path: String, name: String)
    /// The picture is off the screen: the text comes back.
    case closePreview
    /// List what `partial` (a path being typed after `head`) could become.
    case completePath(head: String, partial: String)
    /// Disappearing messages in `chat` after `seconds` (nil: off).
    case setTimer(chat: String, seconds: Int?)
    /// The reactions in `chat`, for the conversation shown.
    case loadReactions(chat: String)
    case markRead(chat: String)
    case loadConversation(chat: String)
    case loadChats
    /// The page of `chat` that ends before `before` (scrolling back).
    case loadOlder(chat: String, before: Int64)
    case typing(to: String)
    case retryConnection
    /// Put failed messages back in the outbox.
    case retry(localIDs: [Int64])
    /// Remove failed messages from the history.
    case deleteFailed(localIDs: [Int64], chat: String)
    case search(text: String)
    /// Open `chat` at the message `localID`.
    case jump(chat: String, localID: Int64)
    case setTheme(name: String)
    /// Show the safety number for `name`; with `mark`, record it as verified.
    case verify(name: String, mark: Bool)
    /// A group request for the relay (create, add, remove, leave, rename, promote, demote).
    case group(GroupRequest)
    /// Who has received and read our message `id` (shown in the status line).
    case memberReceipts(messageID: String)
    /// Someone wrote @me: ring even when the bell is off for ordinary messages.
    case mentionBell
    /// A desktop notification (or the bell where the terminal has none) for a message.
    case notify(chat: String, from: String, text: String)
    /// Keep the chat's unsent text (empty: none).
    case saveDraft(chat: String, text: String)
    /// A sent line, for Up/Down recall after a restart.
    case rememberInput(String)
    case loadOldest(chat: String)
    /// Ask the relay whether `name` exists before opening a chat with them.
    case checkUser(name: String)
    case chatSetting(chat: String, ChatSetting)
    /// `/accept` or `/decline` a group someone we never wrote to put us in.
    case answerInvitation(group: String, accept: Bool)
    case quit
}

/// What `/edit`, `/delete` and `/react` do to a message.
public enum MessageChange: Sendable, Equatable {
    case edit(String)
    case delete(everyone: Bool)
    /// An empty emoji takes ours back.
    case react(String)
}

/// `/pin`, `/mute`, `/close` and their opposites.
public enum ChatSetting: Sendable, Equatable {
    case pin(Bool)
    case mute(Bool)
    case close
}

/// What `/group …` asks of the relay.
public struct GroupRequest: Sendable, Equatable {
    public var name: String
    public var action: GroupAction
    public var members: [String] = []
    public var title: String?
}
