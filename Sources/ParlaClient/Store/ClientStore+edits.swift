import Foundation
import GRDB

/// Edits and deletions (issue 22). A message's author may change its text or delete it for
/// everyone; anyone may delete a message from their own history. Both travel inside the
/// encryption like a text, so the relay sees neither the new words nor that anything changed.
///
/// A deleted message stays as a tombstone with its text emptied (and so out of the search
/// index): a resent or redelivered copy of it then finds it already stored instead of
/// bringing it back, and an edit arriving after a delete changes nothing.
extension ClientStore {
    static func registerEditMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v13-edits") { db in
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN editedAt INTEGER;
                ALTER TABLE messages ADD COLUMN deleted TEXT;
                """)
        }
    }

    /// Queues Parla's own message about `chat` for its other side, or for the group's other members.
    static func enqueueChatControl(_ db: Database, _ content: MessageContent, chat: String, me: String, group: GroupState?) throws {
        let id = "ctl-" + UUID().uuidString.lowercased()
        if let group {
            try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('group', ?, ?, ?)", arguments: [id, group.chat, content.encoded])
            try setRecipients(db, id: id, group.members.filter { $0 != me })
        } else {
            try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('control', ?, ?, ?)", arguments: [id, chat, content.encoded])
        }
    }

    /// Our own edit: the text changes here at once and the edit is queued for the chat.
    func enqueueEdit(of message: MessageRecord, text: String, me: String, group: GroupState?, at date: Date) throws -> MessageRecord {
        try pool.write { db in
            try Self.applyEdit(db, message, text: text, at: date)
            try Self.enqueueChatControl(db, .edit(of: message.id, text: text, group: group?.name), chat: message.chat, me: me, group: group)
            return try Self.message(db, sender: me, id: message.id) ?? message
        }
    }

    /// Deletes `message` here, and with `.everyone` queues the deletion for the chat.
    func delete(_ message: MessageRecord, for deletion: MessageDeletion, me: String, group: GroupState?) throws -> MessageRecord {
        try pool.write { db in
            try Self.applyMessageDeletion(db, message, deletion)
            if deletion == .everyone {
                try Self.enqueueChatControl(db, .delete(of: message.id, group: group?.name), chat: message.chat, me: me, group: group)
            }
            return try Self.message(db, sender: message.from, id: message.id) ?? message
        }
    }

    private static func applyEdit(_ db: Database, _ message: MessageRecord, text: String, at date: Date) throws {
        try db.execute(sql: "UPDATE messages SET text = ?, editedAt = ? WHERE localID = ? AND deleted IS NULL",
                       arguments: [text, millis(date), message.localID])
    }

    private static func applyMessageDeletion(_ db: Database, _ message: MessageRecord, _ deletion: MessageDeletion) throws {
        // Deleted for everyone and then for me: hidden here too. The other way round it stays hidden.
        try db.execute(sql: "UPDATE messages SET text = '', deleted = ? WHERE localID = ? AND deleted IS NOT 'me'",
                       arguments: [deletion.rawValue, message.localID])
        try db.execute(sql: "DELETE FROM reactions WHERE chat = ? AND messageID = ?", arguments: [message.chat, message.id])
        try forgetAttachment(db, of: message)
    }

    /// An edit or deletion that arrived: it applies only to a message its sender wrote, in the
    /// chat named inside the encryption, that is not deleted already.
    static func receiveChange(_ db: Database, of messageID: String, from sender: String, chat: String, edit text: String?, at date: Date) throws -> MessageRecord? {
        guard let target = try message(db, sender: sender, id: messageID), target.chat == chat, target.deleted == nil, target.status == .received
        else { return nil }
        if let text {
            try applyEdit(db, target, text: text, at: date)
        } else {
            try applyMessageDeletion(db, target, .everyone)
        }
        return try message(db, sender: sender, id: messageID)
    }
}
