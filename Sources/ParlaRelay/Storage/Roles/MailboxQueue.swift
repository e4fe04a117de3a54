import Foundation

/// The mailboxes themselves: what is accepted (exactly once), waits, is delivered,
/// confirmed and deleted, or expires.
public protocol MailboxQueue: Sendable {
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
}

extension MailboxQueue {
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

extension MailboxQueue {
    /// Everything waiting, expired or not (tools and tests that look at the store itself).
    func pending(for user: String, after seq: Int64, limit: Int) async throws -> [MailboxItem] {
        try await pending(for: user, after: seq, limit: limit, now: .min)
    }
}
