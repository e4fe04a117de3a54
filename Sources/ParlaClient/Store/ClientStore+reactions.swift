import Foundation
import GRDB

/// Reactions (issue 22): one per person per message, replaced by the next, taken back with
/// an empty one. Sent inside the encryption like a text; the relay sees a message.
extension ClientStore {
    static func registerReactionMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v12-reactions") { db in
            try db.execute(sql: """
                CREATE TABLE reactions (
                    chat TEXT NOT NULL, messageID TEXT NOT NULL, reactor TEXT NOT NULL, emoji TEXT NOT NULL, at INTEGER NOT NULL,
                    PRIMARY KEY (chat, messageID, reactor)
                ) WITHOUT ROWID;
                """)
        }
    }

    /// At most this many bytes of UTF-8: an emoji with its modifiers, not a text.
    public static let maxReactionBytes = 32

    /// One emoji with its modifiers (or empty, taking a reaction back): short, no control characters.
    static func isValidReaction(_ emoji: String) -> Bool {
        emoji.utf8.count <= maxReactionBytes && !emoji.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    static func setReaction(_ db: Database, chat: String, messageID: String, reactor: String, emoji: String, at date: Date) throws {
        if emoji.isEmpty {
            try db.execute(sql: "DELETE FROM reactions WHERE chat = ? AND messageID = ? AND reactor = ?", arguments: [chat, messageID, reactor])
        } else {
            try db.execute(sql: "INSERT OR REPLACE INTO reactions (chat, messageID, reactor, emoji, at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [chat, messageID, reactor, emoji, millis(date)])
        }
    }

    /// Our own reaction, stored at once and queued for the chat's other side (or the group's members).
    func enqueueReaction(to message: MessageRecord, emoji: String, me: String, group: GroupState?, at date: Date) throws {
        try pool.write { db in
            try Self.setReaction(db, chat: message.chat, messageID: message.id, reactor: me, emoji: emoji, at: date)
            try Self.enqueueChatControl(db, .reaction(to: message.id, emoji: emoji, group: group?.name), chat: message.chat, me: me, group: group)
        }
    }

    /// A reaction that arrived: applied only to a message of the chat it names, and only in a
    /// chat the reactor is part of (the other side of a direct chat, a member of the group).
    static func receiveReaction(_ db: Database, to messageID: String, emoji: String, from reactor: String, chat: String, at date: Date) throws -> MessageRecord? {
        guard isValidReaction(emoji),
              let target = try Row.fetchOne(db, sql: "SELECT \(columns) FROM messages WHERE chat = ? AND id = ?", arguments: [chat, messageID]).map(record),
              target.deleted == nil
        else { return nil }
        if let group = groupName(ofChat: chat) {
            guard try self.group(db, group)?.members.contains(reactor) == true else { return nil }
        } else if chat != reactor {
            return nil
        }
        try setReaction(db, chat: chat, messageID: messageID, reactor: reactor, emoji: emoji, at: date)
        return target
    }

    /// Reactions in `chat`, by message id: emoji → who, in the order they reacted.
    public func reactions(inChat chat: String) throws -> [String: [String: [String]]] {
        try pool.read { db in
            var result: [String: [String: [String]]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT messageID, emoji, reactor FROM reactions WHERE chat = ? ORDER BY at, reactor", arguments: [chat]) {
                result[row[0], default: [:]][row[1], default: []].append(row[2])
            }
            return result
        }
    }

    /// A message by id in any chat (ids are the sender's; the newest if two senders chose one).
    public func message(anyChatWithID id: String) throws -> MessageRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM messages WHERE id = ? ORDER BY localID DESC LIMIT 1", arguments: [id]).map(Self.record) }
    }
}
