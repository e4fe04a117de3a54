import Foundation
import GRDB
import Testing

@testable import ParlaRelay

/// Idempotency keys go to an append-only log held in memory and are merged into the key-ordered
/// table later: whatever the group commit undoes (a failed job, a failed merge) must be forgotten
/// with it, and whatever it commits must be found again — in memory, after a merge, after a restart.
@Suite struct AcceptedKeyLogTests {
    private struct Refused: Error {}
    private let later: Int64 = 1_000_000

    /// A database with the two key tables, a log and a group commit writing through it.
    private struct Fixture {
        let directory: String
        let pool: DatabasePool
        let log: AcceptedKeyLog
        let committer: GroupCommitter

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    private func makeDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "parla-accepted-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    private func makeFixture(mergeThreshold: Int = 65_536) throws -> Fixture {
        let directory = try makeDirectory()
        let pool = try DatabasePool(path: directory + "/test.sqlite")
        var migrator = DatabaseMigrator()
        migrator.registerMigration("accepted") { db in
            try db.execute(sql: "CREATE TABLE accepted (key BLOB PRIMARY KEY, expiresAt INTEGER NOT NULL) WITHOUT ROWID")
        }
        AcceptedKeyLog.registerMigration(&migrator)
        try migrator.migrate(pool)
        let log = AcceptedKeyLog(mergeThreshold: mergeThreshold)
        return Fixture(directory: directory, pool: pool, log: log, committer: GroupCommitter(writer: pool, deferred: log))
    }

    private func key(_ n: Int) -> Data { SQLiteMailboxStore.acceptedKey(sender: "alice", id: "m\(n)") }

    private func rows(_ table: String, _ pool: DatabasePool) async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)")! }
    }

    /// Whether a job run after everything submitted so far finds `key`.
    private func found(_ key: Data, _ log: AcceptedKeyLog, _ committer: GroupCommitter) async throws -> Bool {
        try await committer.submit { db in try log.contains(key, db) }.value()
    }

    /// Keys outlive the relay process (in both tables), so their bytes are fixed: SHA-256 of
    /// sender, a zero byte and id, cut to 16 bytes.
    @Test func theKeyOfASenderAndIdNeverChanges() {
        func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(SQLiteMailboxStore.acceptedKey(sender: "alice", id: "m1")) == "03a883131efe522ea18d0faa8880e374")
        #expect(hex(SQLiteMailboxStore.acceptedKey(sender: "", id: "")) == "6e340b9cffb37a989ca544e6bb780a2c")
        #expect(hex(SQLiteMailboxStore.acceptedKey(sender: "zoë", id: "日本-🙂")) == "88f9b937e641664a2539ae436e6330b3")
        #expect(SQLiteMailboxStore.acceptedKey(sender: "ab", id: "c") != SQLiteMailboxStore.acceptedKey(sender: "a", id: "bc"))
    }

    @Test func keysAreFoundInTheirTransactionAfterItCommitsAndAfterAMerge() async throws {
        let fixture = try makeFixture(mergeThreshold: 10)
        defer { fixture.remove() }
        let (pool, log, committer) = (fixture.pool, fixture.log, fixture.committer)
        // Each job finds the key of the job before it, committed or still in the same transaction.
        let tickets = (0..<30).map { n in
            committer.submit(usingDeferred: true) { db -> Bool in
                let previousFound = n == 0 ? true : try log.contains(key(n - 1), db)
                try log.record(key(n), until: later, db)
                return previousFound
            }
        }
        for ticket in tickets { #expect(try await ticket.value()) }
        #expect(try await rows("accepted_log", pool) == 30)
        #expect(try await rows("accepted", pool) == 0)
        #expect(try await found(key(30), log, committer) == false)

        #expect(log.claimMerge())
        #expect(log.claimMerge() == false, "one merge at a time")
        // A key recorded after the merge in the same transaction stays in the log.
        let merge = committer.submit { db in try log.merge(db, now: 0) }
        let after = committer.submit(usingDeferred: true) { db in try log.record(key(30), until: later, db) }
        try await merge.value()
        try await after.value()
        #expect(try await rows("accepted", pool) == 30)
        #expect(try await rows("accepted_log", pool) == 1)
        for n in 0...30 { #expect(try await found(key(n), log, committer), "key \(n)") }
        #expect(try await found(key(31), log, committer) == false)
        #expect(log.claimMerge() == false, "1 key left in the log, threshold 10")
    }

    @Test func aJobThatFailsLeavesNoKeyBehindAndTheKeyCanBeTakenAgain() async throws {
        let fixture = try makeFixture()
        defer { fixture.remove() }
        let (pool, log, committer) = (fixture.pool, fixture.log, fixture.committer)
        // Submitted together so they share a batch: job 20 records its key, then throws.
        let tickets = (0..<50).map { n in
            committer.submit(usingDeferred: true) { db -> Bool in
                if n == 21 { return try log.contains(key(20), db) }
                try log.record(key(n), until: later, db)
                if n == 20 { throw Refused() }
                return true
            }
        }
        for (n, ticket) in tickets.enumerated() {
            if n == 20 {
                await #expect(throws: Refused.self) { try await ticket.value() }
            } else if n == 21 {
                #expect(try await ticket.value() == false, "the failed job's key was undone with it")
            } else {
                #expect(try await ticket.value())
            }
        }
        #expect(try await found(key(20), log, committer) == false)
        #expect(try await rows("accepted_log", pool) == 48)
        // The request that failed is stored when it comes again.
        try await committer.submit(usingDeferred: true) { db in try log.record(key(20), until: later, db) }.value()
        #expect(try await found(key(20), log, committer))
    }

    /// A COMMIT refused by a deferred constraint (SQLite keeps the transaction, GRDB rolls it
    /// back): none of its keys may be answered as stored. The full-disk case, where no rollback
    /// observer runs, is `FullDiskTests` against a real write failure.
    @Test func aTransactionWhoseCommitFailsLeavesNoKeyBehind() async throws {
        let fixture = try makeFixture()
        defer { fixture.remove() }
        let (pool, log, committer) = (fixture.pool, fixture.log, fixture.committer)
        try await pool.write { db in
            try db.execute(sql: """
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)
                """)
        }
        // One job, so one transaction whatever the batching: five keys, then a row that breaks
        // a constraint checked only at COMMIT.
        let ticket = committer.submit(usingDeferred: true) { db in
            for n in 0..<5 { try log.record(key(n), until: later, db) }
            try db.execute(sql: "INSERT INTO child (parent) VALUES (42)")
        }
        await #expect(throws: (any Error).self) { try await ticket.value() }
        #expect(try await rows("accepted_log", pool) == 0, "nothing was kept")
        for n in 0..<5 { #expect(try await found(key(n), log, committer) == false, "key \(n) is not stored") }
        // The same requests again are stored, and stay found after their commit.
        for n in 0..<5 { try await committer.submit(usingDeferred: true) { db in try log.record(key(n), until: later, db) }.value() }
        for n in 0..<5 { #expect(try await found(key(n), log, committer)) }
        #expect(try await rows("accepted_log", pool) == 5)
    }

    @Test func aMergeThatIsUndoneKeepsEveryKeyInTheLog() async throws {
        let fixture = try makeFixture(mergeThreshold: 5)
        defer { fixture.remove() }
        let (pool, log, committer) = (fixture.pool, fixture.log, fixture.committer)
        for n in 0..<5 {
            try await committer.submit(usingDeferred: true) { db in try log.record(key(n), until: later, db) }.value()
        }
        #expect(log.claimMerge())
        await #expect(throws: Refused.self) {
            try await committer.submit { db in
                try log.merge(db, now: 0)
                throw Refused()
            }.value()
        }
        #expect(try await rows("accepted_log", pool) == 5)
        #expect(try await rows("accepted", pool) == 0)
        // Only the log (in memory) can answer now, and it still does.
        for n in 0..<5 { #expect(try await found(key(n), log, committer)) }
        #expect(log.claimMerge(), "the failed merge may be tried again")
    }

    @Test func aMergeLeavesExpiredKeysOut() async throws {
        let fixture = try makeFixture()
        defer { fixture.remove() }
        let (pool, log, committer) = (fixture.pool, fixture.log, fixture.committer)
        try await committer.submit(usingDeferred: true) { db in
            try log.record(key(1), until: 100, db)
            try log.record(key(2), until: 1_000, db)
        }.value()
        try await committer.submit { db in try log.merge(db, now: 500) }.value()
        #expect(try await found(key(1), log, committer) == false)
        #expect(try await found(key(2), log, committer))
        #expect(try await rows("accepted", pool) == 1)
        #expect(try await rows("accepted_log", pool) == 0)
    }

    @Test func resendsAreRefusedBeforeAndAfterMergesAndAcrossARestart() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let day: Int64 = 86_400_000
        let quota = MailboxQuota()
        var store: SQLiteMailboxStore? = try SQLiteMailboxStore(directory: directory, acceptedKeysInMemory: 8)
        let signing = Data(repeating: 1, count: 32)
        for name in ["alice", "bob"] {
            #expect(try await store!.register(UserRecord(name: name, signingKey: signing, agreementKey: signing), invite: nil, registrationOpen: true, now: 0) == .registered)
        }
        func send(_ n: Int) async throws -> AcceptOutcome {
            try await store!.enqueueAccept(id: "m\(n)", from: "alice", to: "bob", body: Data("hello \(n)".utf8), now: 1, expiresAt: 1 + day, quota: quota).value()
        }
        // 20 messages with 8 keys in memory: merges run between them.
        for n in 0..<20 { #expect(try await send(n) == .stored) }
        for n in 0..<20 { #expect(try await send(n) == .duplicate, "m\(n) while waiting") }
        _ = try await store!.confirm(user: "bob", ids: (0..<20).map { "m\($0)" }, now: 2, receiptExpiresAt: 2 + day)
        #expect(try await store!.pending(for: "bob", after: 0, limit: 100).isEmpty)
        for n in 0..<20 { #expect(try await send(n) == .duplicate, "m\(n) after delivery") }
        let inTable = try await store!.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM accepted")! }
        let inLog = try await store!.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM accepted_log")! }
        #expect(inTable + inLog == 20)
        #expect(inTable > 0 && inLog > 0, "some keys merged, some still in the log")

        store = nil
        store = try SQLiteMailboxStore(directory: directory, acceptedKeysInMemory: 8)
        for n in 0..<20 { #expect(try await send(n) == .duplicate, "m\(n) after a restart") }
        #expect(try await send(20) == .stored)
    }
}
