import Foundation
import GRDB

/// Who may ask for a message again. A resend request names ids; answering it sends their
/// plaintext over the requester's current session, so it is answered only for copies that
/// were sealed for that very person under the identity key pinned for them now: never for a
/// stranger, a group message that never went to them, or someone whose key changed since
/// (a malicious relay or a network attacker posing as them) until the user approves the new
/// key (`/verify NAME yes`). Each id is resent once, and at most `resendsPerHour` per person.
extension ClientStore {
    public static let resendsPerHour = 200

    /// Prekey messages' base keys, so a replay cannot start a session again; and a verified
    /// contact whose key changed is not sent to until the user approves the new key.
    static func registerKeyChangeMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-key-changes") { db in
            try db.execute(sql: """
                CREATE TABLE prekey_bases (ephemeralKey BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
                ALTER TABLE contacts ADD COLUMN sendingBlocked INTEGER NOT NULL DEFAULT 0;
                """)
        }
    }

    static func registerResendGuardMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-resend-guard") { db in
            try db.execute(sql: """
                CREATE TABLE sealed_for (id TEXT NOT NULL, peer TEXT NOT NULL, signingKey BLOB NOT NULL, PRIMARY KEY (id, peer)) WITHOUT ROWID;
                CREATE TABLE resends (
                    peer TEXT NOT NULL,
                    id TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    held INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (peer, id)
                ) WITHOUT ROWID;
                """)
        }
    }

    /// Notes which identity key (`key`, pinned for `peer`) a message copy was sealed for, in the
    /// sealing transaction.
    static func recordSealed(_ db: Database, id: String, for peer: String, key: Data) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO sealed_for (id, peer, signingKey) VALUES (?, ?, ?)").execute(arguments: [id, peer, key])
    }

    enum ResendDecision: Equatable {
        case send
        /// Sealed for an earlier key of theirs: waits for the user's approval of the new one.
        case hold
        /// Not theirs to ask for, or asked before, or over this hour's budget.
        case refuse
    }

    /// Whether `peer` may have message `id` again, and records the answer.
    static func decideResend(_ db: Database, id: String, to peer: String, at date: Date, budget: inout Int) throws -> ResendDecision {
        guard let sealed = try Data.fetchOne(db, sql: "SELECT signingKey FROM sealed_for WHERE id = ? AND peer = ?", arguments: [id, peer]),
              let pinned = try contact(db, peer)?.signingKey else { return .refuse }
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM resends WHERE peer = ? AND id = ?", arguments: [peer, id]) != true else { return .refuse }
        if sealed != pinned {
            try db.execute(sql: "INSERT INTO resends (peer, id, at, held) VALUES (?, ?, ?, 1)", arguments: [peer, id, millis(date)])
            return .hold
        }
        guard budget > 0 else { return .refuse }
        budget -= 1
        try db.execute(sql: "INSERT INTO resends (peer, id, at, held) VALUES (?, ?, ?, 0)", arguments: [peer, id, millis(date)])
        return .send
    }

    /// How many more ids `peer` may be sent again this hour.
    static func resendBudget(_ db: Database, peer: String, at date: Date) throws -> Int {
        let recent = try Int.fetchOne(db, sql: "SELECT count(*) FROM resends WHERE peer = ? AND held = 0 AND at > ?",
                                      arguments: [peer, millis(date) - 3_600_000]) ?? 0
        return max(0, resendsPerHour - recent)
    }

    /// The user approved `peer`'s current key: what they asked for under it is sent now.
    /// Returns how many copies were queued.
    static func releaseHeldResends(_ db: Database, peer: String, me: String) throws -> Int {
        let ids = try String.fetchAll(db, sql: "SELECT id FROM resends WHERE peer = ? AND held = 1", arguments: [peer])
        var queued = 0
        for id in ids {
            try db.execute(sql: "UPDATE resends SET held = 0, at = ? WHERE peer = ? AND id = ?", arguments: [millis(Date()), peer, id])
            guard let original = try message(db, sender: me, id: id) else { continue }
            try enqueueControl(db, .resent(id: id, text: original.text), to: peer)
            queued += 1
        }
        return queued
    }
}
