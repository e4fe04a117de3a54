import Foundation
import GRDB
import GRDBSQLite

/// One of GRDB's cached statements, bound and stepped through SQLite's C API.
///
/// The group commit runs a few statements per message; profiles showed GRDB's generic argument
/// and row handling costing several times SQLite's own work there. Only the per-message
/// statements use this; everything else stays with GRDB.
struct HotStatement {
    private let statement: Statement
    private let db: Database

    init(_ db: Database, _ sql: String) throws {
        self.db = db
        self.statement = try db.cachedStatement(sql: sql)
    }

    private var handle: SQLiteStatement { statement.sqliteStatement }

    /// Binds `values` to the parameters in order, after clearing what the last run left.
    func bind(_ values: HotValue...) -> HotStatement {
        sqlite3_reset(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .text(let text):
                // The string's own bytes, no copy into an array first; the explicit length keeps an embedded NUL.
                _ = text.withCString { sqlite3_bind_text(handle, index, $0, Int32(text.utf8.count), hotTransient) }
            case .int(let number):
                sqlite3_bind_int64(handle, index, number)
            case .null:
                sqlite3_bind_null(handle, index)
            case .blob(let data):
                data.withUnsafeBytes { bytes in
                    _ = sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), hotTransient)
                }
            }
        }
        return self
    }

    /// Runs to completion; answers the rows changed.
    @discardableResult
    func execute() throws -> Int {
        while try step() {}
        return Int(sqlite3_changes(db.sqliteConnection))
    }

    /// Steps once: true while a row is available (read it with `int`, `text`).
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        case let code:
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func text(_ column: Int32) -> String {
        guard let chars = sqlite3_column_text(handle, column) else { return "" }
        return String(cString: chars)
    }

    func optionalText(_ column: Int32) -> String? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : text(column)
    }

    func blob(_ column: Int32) -> Data {
        // The pointer first, then the length: SQLite's documented order for a column's bytes.
        guard let bytes = sqlite3_column_blob(handle, column) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(handle, column)))
    }

    /// Releases the statement's read lock and bound values until the next run.
    func finish() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}

enum HotValue {
    case text(String)
    case int(Int64)
    case blob(Data)
    case null

    static func int(_ value: Int) -> HotValue { .int(Int64(value)) }
    static func text(orNull value: String?) -> HotValue { value.map { .text($0) } ?? .null }
}

/// SQLite copies bound values before the call returns (`SQLITE_TRANSIENT`).
private let hotTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
