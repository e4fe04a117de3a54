import Foundation

/// Where a message stands. Outgoing ones only ever move forward:
/// queued → sent → delivered → read (or failed, with a reason).
public enum MessageStatus: String, Sendable, Codable, CaseIterable {
    case queued, sent, delivered, read, failed, received

    /// Rank of outgoing progress; receipts never move a message backwards.
    var rank: Int {
        switch self {
        case .queued: 0
        case .sent: 1
        case .delivered: 2
        case .read: 3
        case .failed, .received: -1
        }
    }
}

/// Who no longer sees a deleted message.
public enum MessageDeletion: String, Sendable, Codable {
    /// Deleted from this history only: hidden here, still on the other side.
    case me
    /// Deleted by its author for everyone: shown as deleted on every side.
    case everyone
}

/// One message in the local history.
public struct MessageRecord: Sendable, Equatable, Identifiable {
    /// Local position in the history (ascending = older to newer).
    public var localID: Int64
    public var id: String
    /// The chat it belongs to: the other user's name.
    public var chat: String
    public var from: String
    public var to: String
    public var text: String
    public var status: MessageStatus
    public var failureReason: String?
    /// Outgoing: when composed. Incoming: when the relay accepted it.
    public var sentAt: Date
    /// The id of the message this one answers, in the same chat.
    public var replyTo: String?
    /// When its author last changed the text (nil: never edited).
    public var editedAt: Date?
    /// Set once deleted; the text is then empty.
    public var deleted: MessageDeletion?
    /// When it disappears from this history (a chat with a timer; nil: it stays).
    public var expiresAt: Date?
    /// The file this message carries (its text is then the caption).
    public var attachment: Attachment?
    public var isOutgoing: Bool { status != .received }

    public init(localID: Int64, id: String, chat: String, from: String, to: String, text: String, status: MessageStatus, failureReason: String?, sentAt: Date,
                replyTo: String? = nil, editedAt: Date? = nil, deleted: MessageDeletion? = nil, expiresAt: Date? = nil,
                attachment: Attachment? = nil) {
        self.localID = localID
        self.id = id
        self.chat = chat
        self.from = from
        self.to = to
        self.text = text
        self.status = status
        self.failureReason = failureReason
        self.sentAt = sentAt
        self.replyTo = replyTo
        self.editedAt = editedAt
        self.deleted = deleted
        self.expiresAt = expiresAt
        self.attachment = attachment
    }
}

/// One conversation in the chat list.
public struct ChatSummary: Sendable, Equatable {
    public var name: String
    public var unread: Int
    public var lastActivity: Date
    public var lastMessage: String?
    /// Pinned chats stay at the top of the list.
    public var pinned: Bool
    /// A muted chat counts its unread messages but never rings or notifies.
    public var muted: Bool
    /// A group someone we never wrote to put us in, until we accept: it rings like a muted one.
    public var invitedBy: String?
    /// Disappearing messages: how long they last, in seconds (nil: off).
    public var timer: Int?

    public init(name: String, unread: Int, lastActivity: Date, lastMessage: String?, pinned: Bool = false, muted: Bool = false, invitedBy: String? = nil, timer: Int? = nil) {
        self.name = name
        self.unread = unread
        self.lastActivity = lastActivity
        self.lastMessage = lastMessage
        self.pinned = pinned
        self.muted = muted
        self.invitedBy = invitedBy
        self.timer = timer
    }
}
