import Foundation
import GRDB

/// What `parla sync` has printed, so a message is printed even when the sync that stored it
/// was killed before printing (the next sync prints it), and never twice in a row of syncs.
extension ClientStore {
    static let syncCursorKey = "syncCursor"

    /// The newest received message sync has printed; a new profile starts at 0 (everything),
    /// one from before the cursor existed at its newest message (no flood of old history).
    public func syncCursor() throws -> Int64 {
        try pool.write { db in
            if let value = try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [Self.syncCursorKey]),
               let cursor = Int64(value) {
                return cursor
            }
            let newest = try Int64.fetchOne(db, sql: "SELECT max(localID) FROM messages") ?? 0
            try db.execute(sql: "INSERT INTO settings (key, value) VALUES (?, ?)", arguments: [Self.syncCursorKey, String(newest)])
            return newest
        }
    }

    public func setSyncCursor(_ localID: Int64) throws {
        try setSetting(Self.syncCursorKey, String(localID))
    }

    /// A new profile's sync prints everything it receives.
    func startSyncCursor() throws {
        try setSetting(Self.syncCursorKey, "0")
    }

    /// Received messages after `localID`, oldest first.
    public func received(after localID: Int64) throws -> [MessageRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM messages WHERE localID > ? AND status = 'received' ORDER BY localID",
                             arguments: [localID]).map(Self.record)
        }
    }
}
