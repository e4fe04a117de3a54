import Foundation
import GRDB

/// The `users` columns a stored message changes (pending count and bytes for the quota, the
/// last position, the earliest expiry), read once per mailbox per transaction and written
/// back once when it ends. Storing a message then takes an insert and no read or update of
/// its recipient's row.
///
/// Only the group commit's writer touches it, one job at a time.
final class MailboxCounters: DeferredWrites, @unchecked Sendable {
    struct Counters {
        var box: Int64
        var lastSeq: Int64
        var pendingMessages: Int64
        var pendingBytes: Int64
        /// The earliest expiry added in this transaction.
        var addedExpiry: Int64?
    }

    private var loaded: [String: Counters] = [:]

    /// The recipient's counters as this transaction sees them; nil for no such user.
    func counters(of user: String, in db: Database) throws -> Counters? {
        if let counters = loaded[user] { return counters }
        let row = try HotStatement(db, "SELECT box, lastSeq, pendingMessages, pendingBytes FROM users WHERE name = ?").bind(.text(user))
        defer { row.finish() }
        guard try row.step() else { return nil }
        let counters = Counters(box: row.int(0), lastSeq: row.int(1), pendingMessages: row.int(2), pendingBytes: row.int(3))
        loaded[user] = counters
        return counters
    }

    /// Records a message stored at `seq` (the next position) in `user`'s mailbox.
    func stored(for user: String, seq: Int64, bytes: Int, expiresAt: Int64) {
        guard var counters = loaded[user] else { preconditionFailure("counters of \(user) were not read in this transaction") }
        counters.lastSeq = seq
        counters.pendingMessages += 1
        counters.pendingBytes += Int64(bytes)
        counters.addedExpiry = min(counters.addedExpiry ?? expiresAt, expiresAt)
        loaded[user] = counters
    }

    func flush(_ db: Database) throws {
        guard !loaded.isEmpty else { return }
        defer { loaded.removeAll(keepingCapacity: true) }
        for (user, counters) in loaded {
            guard let expiry = counters.addedExpiry else { continue }
            try HotStatement(db, """
                UPDATE users SET lastSeq = ?1, pendingMessages = ?2, pendingBytes = ?3, nextExpiry = min(coalesce(nextExpiry, ?4), ?4) WHERE name = ?5
                """).bind(.int(counters.lastSeq), .int(counters.pendingMessages), .int(counters.pendingBytes), .int(expiry), .text(user)).execute()
        }
    }

    func discard() {
        loaded.removeAll(keepingCapacity: true)
    }
}
