import Foundation
import GRDB

/// What the user set up around the chats, kept with the history so it survives restarts:
/// pinned, muted and closed chats, an unsent draft per chat, and the input history.
extension ClientStore {
    /// Lines of input history kept; older ones are dropped.
    public static let inputHistoryLimit = 500

    static func registerChatSettingsMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-chat-settings") { db in
            try db.execute(sql: """
                CREATE TABLE chat_settings (
                    chat TEXT PRIMARY KEY,
                    pinned INTEGER NOT NULL DEFAULT 0,
                    muted INTEGER NOT NULL DEFAULT 0,
                    closedAt INTEGER
                );
                CREATE TABLE drafts (chat TEXT PRIMARY KEY, text TEXT NOT NULL);
                CREATE TABLE input_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL);
                """)
        }
    }

    public func setPinned(_ chat: String, _ pinned: Bool) throws {
        try updateSettings(chat, column: "pinned", pinned)
    }

    public func setMuted(_ chat: String, _ muted: Bool) throws {
        try updateSettings(chat, column: "muted", muted)
    }

    /// Hides the chat from the list until a message arrives or is sent in it; history is kept.
    public func closeChat(_ chat: String) throws {
        try pool.write { db in
            guard let last = try Int64.fetchOne(db, sql: "SELECT lastActivity FROM chats WHERE name = ?", arguments: [chat]) else { return }
            try db.execute(sql: """
                INSERT INTO chat_settings (chat, closedAt) VALUES (?, ?)
                ON CONFLICT(chat) DO UPDATE SET closedAt = excluded.closedAt
                """, arguments: [chat, last])
        }
    }

    private func updateSettings(_ chat: String, column: String, _ value: Bool) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO chat_settings (chat, \(column)) VALUES (?, ?)
                ON CONFLICT(chat) DO UPDATE SET \(column) = excluded.\(column)
                """, arguments: [chat, value])
        }
    }

    /// Unsent text per chat.
    public func drafts() throws -> [String: String] {
        try pool.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT chat, text FROM drafts").map { ($0[0], $0[1]) }, uniquingKeysWith: { $1 })
        }
    }

    /// Keeps `text` as the chat's draft; an empty text removes it.
    public func saveDraft(chat: String, text: String) throws {
        try pool.write { db in
            if text.isEmpty {
                try db.execute(sql: "DELETE FROM drafts WHERE chat = ?", arguments: [chat])
            } else {
                try db.execute(sql: "INSERT INTO drafts (chat, text) VALUES (?, ?) ON CONFLICT(chat) DO UPDATE SET text = excluded.text",
                               arguments: [chat, text])
            }
        }
    }

    /// Sent lines, oldest first, for Up/Down recall.
    public func inputHistory() throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT text FROM input_history ORDER BY seq DESC LIMIT ?", arguments: [Self.inputHistoryLimit]).reversed()
        }
    }

    public func appendInputHistory(_ text: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO input_history (text) VALUES (?)", arguments: [text])
            try db.execute(sql: "DELETE FROM input_history WHERE seq <= (SELECT max(seq) FROM input_history) - ?", arguments: [Self.inputHistoryLimit])
        }
    }

    /// The first page of a chat's history, oldest first (jumping to the top).
    public func oldestPage(chat: String, limit: Int) throws -> [MessageRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM messages WHERE chat = ? ORDER BY localID LIMIT ?",
                             arguments: [chat, limit]).map(Self.record)
        }
    }
}
