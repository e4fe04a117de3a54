import Foundation
import GRDB

/// The storage floor: raw SQLite inserts and deletes of the relay's mailbox rows (same table
/// layout, indexes and durability: WAL, `synchronous=FULL`, `secure_delete`), committed in batches the
/// size of a busy group commit, with no protocol, networking or logic around them.
public struct SQLiteBaseline {
    public struct Result: Codable, Sendable, Equatable {
        public var rows: Int
        public var batch: Int
        public var insertPerSecond: Double
        public var deletePerSecond: Double
    }

    public var rows: Int
    public var size: Int
    public var batch: Int

    public init(rows: Int, size: Int, batch: Int = 256) {
        self.rows = rows
        self.size = size
        self.batch = batch
    }

    public func run() throws -> Result {
        let directory = NSTemporaryDirectory() + "/parla-bench-sqlite-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let pool = try DatabasePool(path: directory + "/baseline.sqlite", configuration: config)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE mailbox (
                    pos INTEGER PRIMARY KEY, recipient TEXT NOT NULL, id TEXT NOT NULL, sender TEXT NOT NULL,
                    kind INTEGER NOT NULL, body BLOB NOT NULL, acceptedAt INTEGER NOT NULL, expiresAt INTEGER NOT NULL, grp TEXT);
                CREATE UNIQUE INDEX mailbox_by_recipient_id ON mailbox(recipient, id);
                """)
        }
        let body = Data((0..<size).map { _ in UInt8.random(in: 0...255) })
        let recipients = 100
        var started = ContinuousClock.now
        for first in stride(from: 0, to: rows, by: batch) {
            try pool.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO mailbox (pos, recipient, id, sender, kind, body, acceptedAt, expiresAt) VALUES (?, ?, ?, ?, 0, ?, ?, ?)")
                for n in first..<min(first + batch, rows) {
                    // The relay's row id: the recipient's mailbox range, then its position in it.
                    let position = Int64(n % recipients + 1) << 32 | Int64(n / recipients + 1)
                    try insert.execute(arguments: [position, "user-\(n % recipients)", "\(n):0:\(n)", "user-\((n + 1) % recipients)", body, n, n + 1_000_000])
                }
            }
        }
        let insertSeconds = (ContinuousClock.now - started).seconds
        started = ContinuousClock.now
        for first in stride(from: 0, to: rows, by: batch) {
            try pool.write { db in
                let delete = try db.cachedStatement(sql: "DELETE FROM mailbox WHERE recipient = ? AND id = ?")
                for n in first..<min(first + batch, rows) {
                    try delete.execute(arguments: ["user-\(n % recipients)", "\(n):0:\(n)"])
                }
            }
        }
        let deleteSeconds = (ContinuousClock.now - started).seconds
        return Result(rows: rows, batch: batch, insertPerSecond: Double(rows) / insertSeconds, deletePerSecond: Double(rows) / deleteSeconds)
    }
}
