import Foundation
import ParlaProtocol

/// A registered account: a name and the public keys it signs and agrees keys with.
public struct UserRecord: Sendable, Equatable {
    public var name: String
    public var signingKey: Data
    public var agreementKey: Data
    public var lastSeen: Int64?

    public init(name: String, signingKey: Data, agreementKey: Data, lastSeen: Int64? = nil) {
        self.name = name
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.lastSeen = lastSeen
    }
}

/// One stored item waiting in a recipient's mailbox: a message or a receipt.
public struct MailboxItem: Sendable, Equatable {
    public enum Kind: Int, Sendable {
        case message = 0, delivered = 1, read = 2, expired = 3
        /// A group membership change; the body is a `GroupEventRecord` in JSON.
        case groupEvent = 4
    }

    /// Position in the recipient's mailbox: increases in acceptance order, which is the delivery order.
    public var seq: Int64
    public var id: String
    public var sender: String
    public var kind: Kind
    /// Message body, or for receipts the message ids joined by "\n".
    public var body: Data
    public var acceptedAt: Int64
    /// For a group message copy or event: the group.
    public var group: String?

    public init(seq: Int64, id: String, sender: String, kind: Kind, body: Data, acceptedAt: Int64, group: String? = nil) {
        self.seq = seq
        self.id = id
        self.sender = sender
        self.kind = kind
        self.body = body
        self.acceptedAt = acceptedAt
        self.group = group
    }
}

/// A message that reached its recipient live, as the store remembers it afterwards.
public struct LiveDeliveryRecord: Sendable, Equatable {
    public var sender: String
    public var id: String
    public var recipient: String
    public var expiresAt: Int64
    /// `SQLiteMailboxStore.acceptedKey(sender:id:)`, computed once when the message arrived.
    public var acceptedKey: Data
    /// When the recipient confirmed it: a resend is answered with this.
    public var deliveredAt: Int64

    public init(sender: String, id: String, recipient: String, expiresAt: Int64, acceptedKey: Data, deliveredAt: Int64) {
        self.sender = sender
        self.id = id
        self.recipient = recipient
        self.expiresAt = expiresAt
        self.acceptedKey = acceptedKey
        self.deliveredAt = deliveredAt
    }
}

public enum RegisterOutcome: Sendable, Equatable {
    case registered, nameTaken, inviteRequired, invalidInvite
}

public enum AcceptOutcome: Sendable, Equatable {
    /// Durably stored; the recipient should be woken.
    case stored
    /// Already accepted earlier from the same sender: acknowledge again, store nothing.
    case duplicate
    /// Durable at the recipient, whose client confirmed it at `at` (live delivery; also the
    /// answer to a resend of such a message): acknowledged with `delivered`, no receipt follows.
    case delivered(at: Int64)
    case unknownRecipient
    case mailboxFull
    /// The sender's items already take their share of the recipient's mailbox.
    case senderShareUsed
    /// The recipient already has a pending item with this id from someone else.
    case idConflict
}

public struct ConfirmOutcome: Sendable, Equatable {
    /// Users who got a new `delivered` receipt and should be woken.
    public var notified: [String]
    /// How many stored messages (not receipts) the confirmation deleted.
    public var deletedMessages: Int

    public init(notified: [String], deletedMessages: Int) {
        self.notified = notified
        self.deletedMessages = deletedMessages
    }
}

/// An item the recipient confirmed: its id, and its mailbox position when the session that
/// sent it knows it, which lets the store delete a run of confirmed items in one step.
public struct ConfirmedItem: Sendable, Equatable {
    public var id: String
    public var seq: Int64?

    public init(id: String, seq: Int64? = nil) {
        self.id = id
        self.seq = seq
    }
}

public struct ExpiryOutcome: Sendable, Equatable {
    public var expiredMessages: Int
    public var notified: [String]

    public init(expiredMessages: Int, notified: [String]) {
        self.expiredMessages = expiredMessages
        self.notified = notified
    }
}

public struct RelayStats: Sendable, Equatable, Codable {
    public var users: Int
    public var pendingMessages: Int
    public var pendingReceipts: Int
    public var databaseBytes: Int64

    public init(users: Int, pendingMessages: Int, pendingReceipts: Int, databaseBytes: Int64) {
        self.users = users
        self.pendingMessages = pendingMessages
        self.pendingReceipts = pendingReceipts
        self.databaseBytes = databaseBytes
    }
}

/// Mailbox limits enforced at acceptance time. Every item counts (messages, read receipts,
/// group events, and the relay's own delivered/expired receipts), so no kind of frame can
/// fill a disk unchecked; and one sender may fill only a share of a mailbox, so a stranger's
/// flood leaves room for everyone else. The relay's own receipts are counted but never
/// refused: they come from the recipient's own messages, and refusing them would fail a
/// confirmation.
public struct MailboxQuota: Sendable, Equatable {
    /// Items (of every kind) one mailbox holds at most.
    public var maxMessages: Int
    public var maxBytes: Int
    /// What one sender's items may take of one mailbox.
    public var maxMessagesPerSender: Int
    public var maxBytesPerSender: Int

    /// Without a per-sender limit, one sender gets a quarter of the mailbox.
    public init(maxMessages: Int = 10_000, maxBytes: Int = 256 * 1024 * 1024, maxMessagesPerSender: Int? = nil, maxBytesPerSender: Int? = nil) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxMessagesPerSender = maxMessagesPerSender ?? max(1, maxMessages / 4)
        self.maxBytesPerSender = maxBytesPerSender ?? max(1, maxBytes / 4)
    }

    public enum Room: Sendable, Equatable {
        case room
        /// The mailbox holds its most items or bytes.
        case full
        /// This sender's items take their whole share of the mailbox.
        case senderShareUsed
    }

    /// The mailbox's own limits for `size` more bytes; nil when the mailbox is filled enough
    /// that the sender's share must be counted. No sender holds more than the whole mailbox:
    /// below one share there is nothing to count.
    public func room(items: Int64, bytes: Int64, adding size: Int) -> Room? {
        if items >= maxMessages || Int(bytes) + size > maxBytes { return .full }
        if items < maxMessagesPerSender, Int(bytes) + size <= maxBytesPerSender { return .room }
        return nil
    }

    /// The sender's share, given what the sender's items already take of the mailbox.
    public func room(senderItems: Int64, senderBytes: Int64, adding size: Int) -> Room {
        senderItems >= maxMessagesPerSender || Int(senderBytes) + size > maxBytesPerSender ? .senderShareUsed : .room
    }

    /// What a sender refused for want of room is told.
    public static func refusal(senderShareUsed: Bool, recipient: String, ref: String) -> FrameError {
        senderShareUsed
            ? FrameError(.mailboxFull, "\(recipient)'s mailbox holds as much from you as it takes from one sender; try again after they come online", ref: ref)
            : FrameError(.mailboxFull, "\(recipient)'s mailbox is full; try again after they come online", ref: ref)
    }
}

/// Where the relay keeps accounts and undelivered items: every role below, from one store
/// (SQLite embedded, or PostgreSQL shared by several relay nodes). Every mutating call
/// returns only after its effect is durably committed.
public protocol MailboxStore: RelayIdentityStore, AccountStore, PrekeyStore, MailboxQueue, ContactStore, GroupStore, StoreMaintenance {}

/// A store result that is committed (or failed) later.
public struct PendingOutcome<T: Sendable>: Sendable {
    private let wait: @Sendable () async throws -> T

    public init(_ wait: @escaping @Sendable () async throws -> T) {
        self.wait = wait
    }

    public func value() async throws -> T {
        try await wait()
    }
}

public struct SignedPrekeyRecord: Sendable, Equatable {
    public var id: UInt32
    public var key: Data
    public var signature: Data
    public init(id: UInt32, key: Data, signature: Data) {
        self.id = id
        self.key = key
        self.signature = signature
    }
}

public struct OneTimePrekeyRecord: Sendable, Equatable {
    public var id: UInt32
    public var key: Data
    public init(id: UInt32, key: Data) {
        self.id = id
        self.key = key
    }
}

public struct PrekeyStatus: Sendable, Equatable {
    public var oneTimeLeft: Int
    public var signedID: UInt32?

    public init(oneTimeLeft: Int, signedID: UInt32?) {
        self.oneTimeLeft = oneTimeLeft
        self.signedID = signedID
    }
}

public struct PrekeyBundleRecord: Sendable, Equatable {
    public var signed: SignedPrekeyRecord?
    public var oneTime: OneTimePrekeyRecord?
    /// One-time prekeys the owner has left after this one.
    public var oneTimeLeft = 0

    public init(signed: SignedPrekeyRecord?, oneTime: OneTimePrekeyRecord?, oneTimeLeft: Int) {
        self.signed = signed
        self.oneTime = oneTime
        self.oneTimeLeft = oneTimeLeft
    }
}
