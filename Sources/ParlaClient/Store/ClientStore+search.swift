import Foundation
import GRDB
import Synchronization

/// The full-text index of the history (`messages_fts`, FTS5 over `messages.text`).
///
/// FTS5 writes its pending terms out as a new index segment at the end of every statement
/// that touched it, so indexing each received message in its own statement (the insert
/// trigger) was about a fifth of the client's work when draining a mailbox. A batch of
/// received messages is instead indexed in one statement at the end of its transaction.
extension ClientStore {
    /// Whether the insert trigger indexes a new message at once (the default) or leaves it to
    /// the end of a `deferringSearchIndex` block. Only the writer connection inserts messages,
    /// one transaction at a time, so one switch per store is enough.
    final class SearchIndexSwitch: Sendable {
        private let deferred = Atomic<Bool>(false)

        var indexesAtOnce: Bool { !deferred.load(ordering: .relaxed) }

        func set(deferred value: Bool) {
            deferred.store(value, ordering: .relaxed)
        }

        /// The SQL function the insert trigger asks; every connection of the store has it.
        func install(in db: Database) {
            db.add(function: DatabaseFunction("parla_index_at_once", argumentCount: 0, pure: false) { [self] _ in indexesAtOnce })
        }
    }

    static func registerSearchMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-search") { db in
            // The insert trigger can be told to wait (see `deferringSearchIndex`). A changed text
            // (a resent copy filling in an undecryptable message, a resend notice updated in
            // place) was not reindexed: search found the old words and not the new. The index is
            // rebuilt once so rows changed before this migration are right too.
            try db.execute(sql: """
                DROP TRIGGER messages_ai;
                CREATE TRIGGER messages_ai AFTER INSERT ON messages WHEN parla_index_at_once() BEGIN
                    INSERT INTO messages_fts(rowid, text) VALUES (new.localID, new.text);
                END;
                CREATE TRIGGER messages_au AFTER UPDATE OF text ON messages BEGIN
                    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.localID, old.text);
                    INSERT INTO messages_fts(rowid, text) VALUES (new.localID, new.text);
                END;
                INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
                """)
        }
    }

    /// Runs `body`, indexing the messages it inserts in one statement at the end instead of
    /// one each. A message's index entry must exist before its text is changed or the row is
    /// deleted (the triggers remove the old entry), so `body` calls `indexPending` before
    /// doing either; rolled back with the transaction like everything else.
    static func deferringSearchIndex<T>(_ db: Database, switch indexSwitch: SearchIndexSwitch,
                                        _ body: (_ indexPending: () throws -> Void) throws -> T) throws -> T {
        // Row ids only grow (AUTOINCREMENT): what this block inserts lies above the current largest.
        var indexedThrough = try Int64.fetchOne(db.cachedStatement(sql: "SELECT ifnull(max(localID), 0) FROM messages")) ?? 0
        func indexPending() throws {
            try db.cachedStatement(sql: "INSERT INTO messages_fts(rowid, text) SELECT localID, text FROM messages WHERE localID > ?")
                .execute(arguments: [indexedThrough])
            indexedThrough = try Int64.fetchOne(db.cachedStatement(sql: "SELECT ifnull(max(localID), 0) FROM messages")) ?? indexedThrough
        }
        indexSwitch.set(deferred: true)
        defer { indexSwitch.set(deferred: false) }
        let result = try body(indexPending)
        try indexPending()
        return result
    }
}
