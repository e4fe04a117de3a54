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
}

public struct RelayStats: Sendable, Equatable, Codable {
    public var users: Int
    public var pendingMessages: Int
    public var pendingReceipts: Int
    public var databaseBytes: Int64
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

    /// What a sender refused for want of room is told.
    public static func refusal(senderShareUsed: Bool, recipient: String, ref: String) -> FrameError {
        senderShareUsed
            ? FrameError(.mailboxFull, "\(recipient)'s mailbox holds as much from you as it takes from one sender; try again after they come online", ref: ref)
            : FrameError(.mailboxFull, "\(recipient)'s mailbox is full; try again after they come online", ref: ref)
    }
}

/// Where the relay keeps accounts and undelivered items. Every mutating call returns
/// only after its effect is durably committed.
public protocol MailboxStore: Sendable {
    /// Stable identity of this relay's data (name and signing key), created with the store.
    func relayIdentity() async throws -> RelayIdentity
    func register(_ user: UserRecord, invite: String?, registrationOpen: Bool, now: Int64) async throws -> RegisterOutcome
    func user(named name: String) async throws -> UserRecord?
    /// What a login is checked against; a store may answer it from memory (keys never change).
    func signingKey(of name: String) async throws -> Data?
    /// Replaces the user's signed prekey (if given) and adds one-time prekeys, keeping at most `limit`.
    func storePrekeys(user: String, signed: SignedPrekeyRecord?, oneTime: [OneTimePrekeyRecord], replacingOneTime: Bool, limit: Int, now: Int64) async throws -> PrekeyStatus
    /// The signed prekey and one one-time prekey, which is removed in the same commit.
    /// The signed prekey, and one one-time prekey (deleted as it is taken) when `takingOneTime`.
    func takePrekeyBundle(user: String, takingOneTime: Bool) async throws -> PrekeyBundleRecord
    func createInvite(now: Int64) async throws -> String

    /// Fixes the message's place in the commit order at call time and returns a handle
    /// to await its committed outcome, so one connection can pipeline sends in order.
    func enqueueAccept(id: String, from sender: String, to recipient: String, body: Data, now: Int64, expiresAt: Int64, quota: MailboxQuota) -> PendingOutcome<AcceptOutcome>
    /// Learns of messages delivered live (never stored, see `LiveMessage`): who talks to whom,
    /// and, in memory only, that their ids are taken (a resend is then a duplicate for
    /// `enqueueAccept`). Not awaited: the recipient's confirmation already made them durable.
    func recordLiveDeliveries(_ deliveries: [LiveDeliveryRecord])
    /// False only if nothing (message, receipt, group change) was ever taken under this key
    /// (`SQLiteMailboxStore.acceptedKey(sender:id:)`). Answered from memory, without waiting: the live route asks it for every message,
    /// and a "maybe" sends the message down the stored route, whose exact check decides.
    func mightHaveAccepted(key: Data) -> Bool
    func acceptReadReceipt(id: String, from reader: String, to sender: String, messageIds: [String], now: Int64, expiresAt: Int64, quota: MailboxQuota) async throws -> AcceptOutcome
    /// The next items of `user`'s mailbox after position `seq`, leaving out any that expired by `now`.
    func pending(for user: String, after seq: Int64, limit: Int, now: Int64) async throws -> [MailboxItem]
    /// Like `enqueueAccept`: placed in the commit order now, so a session can send the next
    /// items while the deletion commits (they come after the confirmed ones in the mailbox).
    func enqueueConfirm(user: String, items: [ConfirmedItem], now: Int64, receiptExpiresAt: Int64) -> PendingOutcome<ConfirmOutcome>
    func expire(now: Int64, receiptExpiresAt: Int64) async throws -> ExpiryOutcome

    func setLastSeen(_ user: String, at: Int64) async throws
    /// Users who have written to `user` and been written to by them (mutual contacts).
    func peers(of user: String) async throws -> [String]
    /// The same, each with when it was last seen: one read at login instead of one per offline peer.
    func peersLastSeen(of user: String) async throws -> [(name: String, lastSeen: Int64?)]
    /// `sender` has written to `recipient` at least once.
    func hasWritten(_ sender: String, to recipient: String) async throws -> Bool
    /// Both have written to each other.
    func sharesConversation(_ a: String, _ b: String) async throws -> Bool

    func stats() async throws -> RelayStats
    /// Moves committed pages into the main file and empties the write-ahead log, so
    /// deleted bytes do not linger there.
    func purgeDeletedData() async throws
    /// Write transactions committed so far (a counter; only changes matter).
    var commits: Int { get }
    /// True while the store has given up its disk reserve: it records deliveries, and refuses
    /// new messages, until the disk has room again.
    var isLowOnSpace: Bool { get }
    /// Applies a membership change checked against the group's current state; the event
    /// is stored for everyone concerned in the same commit.
    func applyGroupChange(_ change: GroupChange, now: Int64, expiresAt: Int64, maxMembers: Int, quota: MailboxQuota) async throws -> GroupChangeOutcome
    /// The group as `user` may see it (nil: no such group, or not a member).
    func groupInfo(_ group: String, for user: String) async throws -> GroupRecord?
    /// Stores one copy per member in one commit, if the copies match the membership exactly.
    func acceptGroupSend(id: String, from sender: String, group: String, copies: [(to: String, body: Data)], now: Int64, expiresAt: Int64,
                         quota: MailboxQuota) async throws -> GroupSendOutcome
}

extension MailboxStore {
    public func signingKey(of name: String) async throws -> Data? {
        try await user(named: name)?.signingKey
    }

    /// Confirms by id alone (positions unknown): a client's confirmation after a reconnect, and tests.
    public func confirm(user: String, ids: [String], now: Int64, receiptExpiresAt: Int64) async throws -> ConfirmOutcome {
        try await confirm(user: user, items: ids.map { ConfirmedItem(id: $0) }, now: now, receiptExpiresAt: receiptExpiresAt)
    }

    public func confirm(user: String, items: [ConfirmedItem], now: Int64, receiptExpiresAt: Int64) async throws -> ConfirmOutcome {
        try await enqueueConfirm(user: user, items: items, now: now, receiptExpiresAt: receiptExpiresAt).value()
    }

    public func accept(id: String, from sender: String, to recipient: String, body: Data, now: Int64, expiresAt: Int64, quota: MailboxQuota) async throws -> AcceptOutcome {
        try await enqueueAccept(id: id, from: sender, to: recipient, body: body, now: now, expiresAt: expiresAt, quota: quota).value()
    }
}

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
}

public struct PrekeyBundleRecord: Sendable, Equatable {
    public var signed: SignedPrekeyRecord?
    public var oneTime: OneTimePrekeyRecord?
    /// One-time prekeys the owner has left after this one.
    public var oneTimeLeft = 0
}

extension MailboxStore {
    /// Everything waiting, expired or not (tools and tests that look at the store itself).
    func pending(for user: String, after seq: Int64, limit: Int) async throws -> [MailboxItem] {
        try await pending(for: user, after: seq, limit: limit, now: .min)
    }
}
