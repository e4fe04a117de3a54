import Foundation
import GRDB
import Synchronization

/// The idempotency keys of stored requests, so that a resend is acknowledged and not stored
/// again. A new key is appended to `accepted_log` instead of being inserted into `accepted`,
/// whose B-tree is ordered by the key: a random key there dirties a page of its own in every
/// group commit, which made it the largest single cost of storing a message. The log's keys
/// are held in memory, exactly, and merged into `accepted` in key order once `mergeThreshold`
/// have gathered (and at every expiry sweep), so that table is written once per page a merge
/// touches instead of once per key.
///
/// Used only by the group commit's jobs (and `load` before the first). As its `DeferredWrites`
/// it learns which keys the transaction keeps: a job's keys join the transaction at `flush`,
/// `discard` forgets them (that job was undone), and they join the committed set only when
/// the transaction commits.
final class AcceptedKeyLog: DeferredWrites, Sendable {
    private struct State {
        /// Keys of committed `accepted_log` rows.
        var committed: Set<AcceptedKey> = []
        /// Keys written by jobs of the running transaction, up to its last flush.
        var transaction: Set<AcceptedKey> = []
        /// Keys written since the last flush.
        var unflushed: Set<AcceptedKey> = []
        /// A job since the last flush merged the log into `accepted`.
        var mergedUnflushed = false
        /// The running transaction merged the log: at commit the committed set is what was logged after it.
        var mergedInTransaction = false
        /// The running transaction has commit and rollback hooks.
        var hooked = false
        /// A merge is queued and has not committed or failed yet.
        var mergeQueued = false
        /// Counts transactions given up without a rollback callback (a failed COMMIT), so a
        /// hook left behind by one of them changes nothing when GRDB calls it later.
        var generation = 0
    }

    /// Keys kept in memory (about 32 bytes each) before they are merged.
    let mergeThreshold: Int
    private let state = Mutex(State())

    init(mergeThreshold: Int = 65_536) {
        self.mergeThreshold = mergeThreshold
    }

    /// `accepted` keeps its index on the exact expiry: one merge's keys expire after everything
    /// merged before them (one TTL per kind of request), so they land in fresh pages at the end
    /// of that index, whatever their order by key.
    static func registerMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-accepted-log") { db in
            try db.execute(sql: "CREATE TABLE accepted_log (seq INTEGER PRIMARY KEY, key BLOB NOT NULL, expiresAt INTEGER NOT NULL)")
        }
    }

    /// Reads the log's keys at startup, before any job runs.
    func load(_ db: Database) throws {
        let keys = try Data.fetchCursor(db, sql: "SELECT key FROM accepted_log")
        var loaded: Set<AcceptedKey> = []
        while let key = try keys.next() { loaded.insert(AcceptedKey(key)) }
        state.withLock { $0.committed = loaded }
    }

    /// Whether a request with this key was stored: in this transaction, in the log, or merged.
    func contains(_ key: Data, _ db: Database) throws -> Bool {
        let exact = AcceptedKey(key)
        let logged = state.withLock { $0.committed.contains(exact) || $0.transaction.contains(exact) || $0.unflushed.contains(exact) }
        if logged { return true }
        let lookup = try HotStatement(db, "SELECT 1 FROM accepted WHERE key = ?").bind(.blob(key))
        defer { lookup.finish() }
        return try lookup.step()
    }

    func record(_ key: Data, until expiresAt: Int64, _ db: Database) throws {
        try HotStatement(db, "INSERT INTO accepted_log (key, expiresAt) VALUES (?, ?)").bind(.blob(key), .int(expiresAt)).execute()
        hookTransaction(db)
        state.withLock { _ = $0.unflushed.insert(AcceptedKey(key)) }
    }

    /// True once when the log has outgrown `mergeThreshold`: the caller then queues `merge`.
    func claimMerge() -> Bool {
        state.withLock { state in
            guard !state.mergeQueued, state.committed.count >= mergeThreshold else { return false }
            state.mergeQueued = true
            return true
        }
    }

    /// Moves the log into `accepted`, in key order, leaving out keys expired by `now`. Run as a
    /// job not `usingDeferred`, so every key written before it in the transaction is flushed.
    func merge(_ db: Database, now: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO accepted (key, expiresAt) SELECT key, expiresAt FROM accepted_log WHERE expiresAt > ? ORDER BY key
            """).execute(arguments: [now])
        try db.cachedStatement(sql: "DELETE FROM accepted_log").execute()
        hookTransaction(db)
        state.withLock { $0.mergedUnflushed = true }
    }

    func flush(_ db: Database) throws {
        state.withLock { state in
            if state.mergedUnflushed {
                // Everything flushed before the merge has moved to `accepted`.
                state.transaction = []
                state.mergedInTransaction = true
                state.mergedUnflushed = false
            }
            state.transaction.formUnion(state.unflushed)
            state.unflushed = []
        }
    }

    func discard() {
        state.withLock { state in
            if state.mergedUnflushed { state.mergeQueued = false }
            state.unflushed = []
            state.mergedUnflushed = false
        }
    }

    /// The whole transaction failed where GRDB calls no rollback observer (COMMIT itself failed:
    /// a full disk, an I/O error). Nothing it wrote was kept, so none of its keys may be
    /// answered as stored: a resend of the same request must be stored this time.
    func abandon() {
        state.withLock { state in
            state = State(committed: state.committed, generation: state.generation + 1)
        }
    }

    private func hookTransaction(_ db: Database) {
        let generation = state.withLock { state -> Int? in
            defer { state.hooked = true }
            return state.hooked ? nil : state.generation
        }
        guard let generation else { return }
        db.afterNextTransaction(onCommit: { [self] _ in
            state.withLock { state in
                guard state.generation == generation else { return }
                if state.mergedInTransaction {
                    state.committed = state.transaction
                    state.mergeQueued = false
                } else {
                    state.committed.formUnion(state.transaction)
                }
                state = State(committed: state.committed, mergeQueued: state.mergeQueued, generation: generation)
            }
        }, onRollback: { [self] _ in
            state.withLock { state in
                guard state.generation == generation else { return }
                // A queued merge that had not run yet may be queued again: merging twice is harmless.
                state = State(committed: state.committed, generation: generation)
            }
        })
    }
}
