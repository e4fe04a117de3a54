import Foundation
import GRDB
import Testing

@testable import ParlaRelay

/// The group commit runs a batch's jobs without savepoints; a job that throws must still fail
/// alone, with nothing of what it wrote kept, while its neighbours commit.
@Suite struct GroupCommitterTests {
    private struct Refused: Error {}

    private func makePool() throws -> (DatabasePool, String) {
        let directory = NSTemporaryDirectory() + "parla-committer-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: directory + "/test.sqlite")
        try pool.write { db in try db.execute(sql: "CREATE TABLE rows (n INTEGER PRIMARY KEY)") }
        return (pool, directory)
    }

    @Test func aFailingJobIsUndoneAloneAndItsNeighboursCommitInOrder() async throws {
        let (pool, directory) = try makePool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let committer = GroupCommitter(writer: pool)
        // Submitted together so they share batches; job 50 writes a row, then throws.
        let tickets = (0..<200).map { (n: Int) in
            committer.submit { db -> Int in
                try db.execute(sql: "INSERT INTO rows (n) VALUES (?)", arguments: [n])
                if n == 50 { throw Refused() }
                return try Int.fetchOne(db, sql: "SELECT count(*) FROM rows")!
            }
        }
        var counts: [Int] = []
        for (n, ticket) in tickets.enumerated() {
            if n == 50 {
                await #expect(throws: Refused.self) { try await ticket.value() }
            } else {
                counts.append(try await ticket.value())
            }
        }
        // Each job saw exactly the rows of the jobs before it that succeeded.
        #expect(counts == Array(1...50) + Array(51...199))
        let stored = try await pool.read { db in try Int.fetchAll(db, sql: "SELECT n FROM rows ORDER BY n") }
        #expect(stored == Array(0..<50) + Array(51..<200))
    }

    @Test func aBatchWithoutFailuresCommitsEverything() async throws {
        let (pool, directory) = try makePool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let committer = GroupCommitter(writer: pool)
        let tickets = (0..<1000).map { (n: Int) in
            committer.submit { db in try db.execute(sql: "INSERT INTO rows (n) VALUES (?)", arguments: [n]) }
        }
        for ticket in tickets { try await ticket.value() }
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM rows") } == 1000)
        #expect(committer.commits < 1000)
    }

    /// Sums what deferred jobs add and writes the total to `total` when flushed.
    private final class DeferredSum: DeferredWrites, @unchecked Sendable {
        var pending = 0
        func flush(_ db: Database) throws {
            guard pending != 0 else { return }
            try db.execute(sql: "UPDATE total SET value = value + ?", arguments: [pending])
            pending = 0
        }
        func discard() { pending = 0 }
    }

    @Test func deferredWritesReachTheDatabaseBeforeAnyOtherJobAndAreUndoneWithAFailingJob() async throws {
        let (pool, directory) = try makePool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await pool.write { db in try db.execute(sql: "CREATE TABLE total (value INTEGER NOT NULL); INSERT INTO total VALUES (0)") }
        let sum = DeferredSum()
        let committer = GroupCommitter(writer: pool, deferred: sum)
        // Every tenth job reads the total the database holds; job 55 adds, then throws.
        let readers = (0..<100).map { (n: Int) -> (Int, CommitTicket<Int>) in
            let ticket = n % 10 == 9
                ? committer.submit { db in try Int.fetchOne(db, sql: "SELECT value FROM total")! }
                : committer.submit(usingDeferred: true) { _ in
                    sum.pending += n
                    if n == 55 { throw Refused() }
                    return -1
                }
            return (n, ticket)
        }
        var expected = 0
        for (n, ticket) in readers {
            if n == 55 {
                await #expect(throws: Refused.self) { try await ticket.value() }
            } else if n % 10 == 9 {
                #expect(try await ticket.value() == expected, "job \(n)")
            } else {
                _ = try await ticket.value()
                expected += n
            }
        }
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT value FROM total") } == expected)
    }
}
