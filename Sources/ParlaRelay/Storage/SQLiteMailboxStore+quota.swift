import GRDB
import ParlaProtocol

extension SQLiteMailboxStore {
    typealias Room = MailboxQuota.Room

    /// Whether a mailbox holding `items` and `bytes` (its counters as this transaction sees
    /// them) takes `size` more bytes from `sender`.
    static func room(in db: Database, box: Int64, items: Int64, bytes: Int64, from sender: String, adding size: Int, quota: MailboxQuota) throws -> Room {
        if let room = quota.room(items: items, bytes: bytes, adding: size) { return room }
        let held = try HotStatement(db, "SELECT count(*), coalesce(sum(length(body)), 0) FROM mailbox WHERE pos > ?1 AND pos <= ?2 AND sender = ?3")
            .bind(.int(position(box: box, seq: 0)), .int(position(box: box, seq: maxSeq)), .text(sender))
        defer { held.finish() }
        guard try held.step() else { return .room }
        return quota.room(senderItems: held.int(0), senderBytes: held.int(1), adding: size)
    }

    /// `room` for a recipient whose counters are read from its row (paths without `MailboxCounters`).
    static func room(in db: Database, of recipient: String, from sender: String, adding size: Int, quota: MailboxQuota) throws -> Room? {
        let row = try HotStatement(db, "SELECT box, pendingMessages, pendingBytes FROM users WHERE name = ?").bind(.text(recipient))
        guard try row.step() else {
            row.finish()
            return nil
        }
        let (box, items, bytes) = (row.int(0), row.int(1), row.int(2))
        row.finish()
        return try room(in: db, box: box, items: items, bytes: bytes, from: sender, adding: size, quota: quota)
    }

    /// What a refused sender is told.
    static func refusal(_ room: Room, recipient: String, ref: String) -> FrameError {
        MailboxQuota.refusal(senderShareUsed: room == .senderShareUsed, recipient: recipient, ref: ref)
    }
}
