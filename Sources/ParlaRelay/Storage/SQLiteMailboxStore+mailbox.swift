import Foundation
import GRDB

/// The mailbox's row layout: every user owns a range of row ids (`box << 32 | seq`), so one
/// recipient's items sit together in the table in delivery order. A commit that stores
/// a message appends to its recipient's range, and a confirmation deletes neighbouring
/// rows, instead of both touching one page per message across the whole table.
extension SQLiteMailboxStore {
    /// Positions per mailbox: `seq` runs from 1 to `maxSeq`.
    static let maxSeq: Int64 = (1 << 32) - 1
    /// Mailboxes (users): `box << 32` must stay a positive 64-bit integer.
    static let maxBox: Int64 = (1 << 31) - 1

    static func position(box: Int64, seq: Int64) -> Int64 { box << 32 | seq }

    static func registerMailboxByRecipientMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-mailbox-by-recipient") { db in
            let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mailbox") ?? 0
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN box INTEGER;
                UPDATE users SET box = rowid;
                CREATE UNIQUE INDEX users_by_box ON users(box);
                ALTER TABLE users ADD COLUMN lastSeq INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE users ADD COLUMN nextExpiry INTEGER;
                CREATE TABLE mailbox_by_recipient (
                    pos INTEGER PRIMARY KEY,
                    recipient TEXT NOT NULL,
                    id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    kind INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    acceptedAt INTEGER NOT NULL,
                    expiresAt INTEGER NOT NULL,
                    grp TEXT
                );
                INSERT INTO mailbox_by_recipient (pos, recipient, id, sender, kind, body, acceptedAt, expiresAt, grp)
                    SELECT (users.box << 32) + row_number() OVER (PARTITION BY mailbox.recipient ORDER BY mailbox.seq),
                           mailbox.recipient, mailbox.id, mailbox.sender, mailbox.kind, mailbox.body, mailbox.acceptedAt, mailbox.expiresAt, mailbox.grp
                    FROM mailbox JOIN users ON users.name = mailbox.recipient;
                """)
            let after = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mailbox_by_recipient") ?? 0
            guard after == before else {
                // Rolled back with the migration: nothing is lost, the relay just does not start.
                throw StoreError.corrupt("\(before - after) mailbox items belong to no registered user; the mailbox was left as it was")
            }
            try db.execute(sql: """
                UPDATE users SET
                    lastSeq = coalesce((SELECT max(pos) - (users.box << 32) FROM mailbox_by_recipient
                                        WHERE pos > users.box << 32 AND pos <= users.box << 32 | \(maxSeq)), 0),
                    nextExpiry = (SELECT min(expiresAt) FROM mailbox_by_recipient WHERE pos > users.box << 32 AND pos <= users.box << 32 | \(maxSeq));
                DROP TABLE mailbox;
                ALTER TABLE mailbox_by_recipient RENAME TO mailbox;
                CREATE UNIQUE INDEX mailbox_by_recipient_id ON mailbox(recipient, id);
                """)
        }
    }

    /// Appends an item to `recipient`'s mailbox. False when the recipient already has an item
    /// with this id (nothing is written then, apart from a skipped position).
    @discardableResult
    static func insertItem(_ db: Database, to recipient: String, id: String, from sender: String, kind: MailboxItem.Kind, body: Data,
                           acceptedAt: Int64, expiresAt: Int64, group: String? = nil) throws -> Bool {
        let slot = try HotStatement(db, """
            UPDATE users SET lastSeq = lastSeq + 1, pendingMessages = pendingMessages + 1, pendingBytes = pendingBytes + ?3,
                nextExpiry = min(coalesce(nextExpiry, ?1), ?1) WHERE name = ?2 RETURNING box, lastSeq
            """).bind(.int(expiresAt), .text(recipient), .int(Int64(body.count)))
        guard try slot.step() else {
            slot.finish()
            throw StoreError.corrupt("no mailbox for '\(recipient)'")
        }
        let box = slot.int(0)
        let seq = slot.int(1)
        while try slot.step() {}
        slot.finish()
        return try insertRow(db, box: box, seq: seq, to: recipient, id: id, from: sender, kind: kind, body: body,
                             acceptedAt: acceptedAt, expiresAt: expiresAt, group: group)
    }

    /// Writes an item's row at position `seq` of mailbox `box`, already taken from the recipient's
    /// counters. False when the recipient already has an item with this id: the `(recipient, id)`
    /// index refuses it.
    static func insertRow(_ db: Database, box: Int64, seq: Int64, to recipient: String, id: String, from sender: String, kind: MailboxItem.Kind, body: Data,
                          acceptedAt: Int64, expiresAt: Int64, group: String? = nil) throws -> Bool {
        let position = try position(of: recipient, box: box, seq: seq)
        return try HotStatement(db, """
            INSERT INTO mailbox (pos, recipient, id, sender, kind, body, acceptedAt, expiresAt, grp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (recipient, id) DO NOTHING
            """)
            .bind(.int(position), .text(recipient), .text(id), .text(sender), .int(kind.rawValue), .blob(body), .int(acceptedAt), .int(expiresAt),
                  .text(orNull: group))
            .execute() > 0
    }

    /// The row id for `seq` in the mailbox `box`, refusing one past the mailbox's range.
    static func position(of recipient: String, box: Int64, seq: Int64) throws -> Int64 {
        guard seq <= maxSeq else { throw StoreError.exhausted("the mailbox of '\(recipient)' has used all of its \(maxSeq) positions") }
        return position(box: box, seq: seq)
    }
}
