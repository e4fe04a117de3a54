import Foundation
import GRDB
import GRDBSQLite

/// The storage floor: raw SQLite inserts and deletes of the relay's mailbox rows (same table
/// layout, indexes, deletion by runs of positions, and durability: WAL, `synchronous=FULL`, `secure_delete`), committed in batches the
/// size of a busy group commit, with no protocol, networking or logic around them. Statements
/// are bound and stepped through SQLite's C API, as the relay's hot statements are.
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

    /// `batch`: about what one group commit holds when the relay stores at full speed.
    public init(rows: Int, size: Int, batch: Int = 1024) {
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
                    try run(insert, .int(position), .text("user-\(n % recipients)"), .text("\(n):0:\(n)"), .text("user-\((n + 1) % recipients)"),
                            .blob(body), .int(Int64(n)), .int(Int64(n + 1_000_000)))
                }
            }
        }
        let insertSeconds = (ContinuousClock.now - started).seconds
        // Deleted as the relay drains: every mailbox at once, a confirmed window (a run of up to
        // 256 consecutive positions) per ranged delete, about `batch` rows per commit.
        let window = 256
        var runs: [(start: Int, box: Int64, first: Int64, last: Int64)] = []
        for recipient in 0..<recipients {
            let count = rows / recipients + (recipient < rows % recipients ? 1 : 0)
            for start in stride(from: 1, through: count, by: window) {
                runs.append((start, Int64(recipient + 1), Int64(start), Int64(min(start + window - 1, count))))
            }
        }
        runs.sort { ($0.start, $0.box) < ($1.start, $1.box) }
        started = ContinuousClock.now
        var next = 0
        while next < runs.count {
            try pool.write { db in
                let delete = try db.cachedStatement(sql: "DELETE FROM mailbox WHERE pos BETWEEN ? AND ?")
                var deleted: Int64 = 0
                while next < runs.count, deleted < batch {
                    let run = runs[next]
                    try self.run(delete, .int(run.box << 32 | run.first), .int(run.box << 32 | run.last))
                    deleted += run.last - run.first + 1
                    next += 1
                }
            }
        }
        let deleteSeconds = (ContinuousClock.now - started).seconds
        let left = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM mailbox") ?? 0 }
        guard left == 0 else { throw DatabaseError(message: "the SQLite baseline left \(left) of \(rows) rows undeleted") }
        return Result(rows: rows, batch: batch, insertPerSecond: Double(rows) / insertSeconds, deletePerSecond: Double(rows) / deleteSeconds)
    }

    private enum Value {
        case int(Int64)
        case text(String)
        case blob(Data)
    }

    /// Binds and steps `statement` to completion without GRDB's argument handling.
    private func run(_ statement: Statement, _ values: Value...) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .int(let number):
                sqlite3_bind_int64(handle, index, number)
            case .text(let text):
                _ = text.withCString { sqlite3_bind_text(handle, index, $0, -1, transient) }
            case .blob(let data):
                data.withUnsafeBytes { _ = sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), transient) }
            }
        }
        var code = sqlite3_step(handle)
        while code == SQLITE_ROW { code = sqlite3_step(handle) }
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))), sql: statement.sql)
        }
    }
}
