import Foundation
import GRDB
import ParlaProtocol

/// Being put in a group by someone you have never written to is an invitation, not a
/// membership: its chat is marked, never rings, sends no read receipts, and waits for the
/// user to accept (or to send to it) or to decline (leave, and its history is deleted).
/// Otherwise anyone could pull anyone into a stream of group messages.
extension ClientStore {
    static func registerInvitationMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10-group-invitations") { db in
            try db.execute(sql: "ALTER TABLE groups ADD COLUMN invitedBy TEXT")
        }
    }

    /// Whether `user` is someone this profile has dealt with: written to directly, or in a
    /// group it belongs to of its own accord.
    static func knows(_ db: Database, _ user: String, me: String, besides group: String) throws -> Bool {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM messages WHERE sender = ? AND chat = ? LIMIT 1", arguments: [me, user]) == true { return true }
        for row in try Row.fetchAll(db, sql: "SELECT members FROM groups WHERE name <> ? AND isMember = 1 AND invitedBy IS NULL", arguments: [group]) {
            let members = try JSONDecoder().decode([String].self, from: Data((row[0] as String).utf8))
            if members.contains(user) { return true }
        }
        return false
    }

    /// Marks `statement`'s group an invitation when it just put `me` in it on a stranger's say-so.
    /// Returns the line that says so, or nil.
    static func markInvitation(_ db: Database, _ statement: GroupStatement, me: String) throws -> String? {
        guard statement.action == .create || statement.action == .add, statement.subjects.contains(me), statement.actor != me,
              try !knows(db, statement.actor, me: me, besides: statement.group) else { return nil }
        try db.execute(sql: "UPDATE groups SET invitedBy = ? WHERE name = ?", arguments: [statement.actor, statement.group])
        return "\(statement.actor), whom you have never written to, put you in #\(statement.group): "
            + "/accept to join, /decline to leave and delete it (parla group accept|decline \(statement.group))"
    }

    /// Who invited us to `group`, while the invitation stands.
    public func invitation(to group: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT invitedBy FROM groups WHERE name = ?", arguments: [group]) }
    }

    /// Accepts the invitation: the group becomes a chat like any other. False when there was none.
    @discardableResult
    func acceptInvitation(to group: String) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE groups SET invitedBy = NULL WHERE name = ? AND invitedBy IS NOT NULL", arguments: [group])
            return db.changesCount > 0
        }
    }

    /// After leaving a declined group: nothing of it stays on this device.
    func deleteDeclinedGroup(_ group: String) throws {
        let chat = "#" + group
        try pool.write { db in
            try db.execute(sql: "DELETE FROM group_receipts WHERE id IN (SELECT id FROM messages WHERE chat = ?)", arguments: [chat])
            try db.execute(sql: "DELETE FROM messages WHERE chat = ?", arguments: [chat])
            try db.execute(sql: "DELETE FROM outbox WHERE recipient = ?", arguments: [chat])
            try db.execute(sql: "DELETE FROM chats WHERE name = ?", arguments: [chat])
            try db.execute(sql: "DELETE FROM chat_settings WHERE chat = ?", arguments: [chat])
            try db.execute(sql: "DELETE FROM drafts WHERE chat = ?", arguments: [chat])
            try db.execute(sql: "DELETE FROM groups WHERE name = ?", arguments: [group])
        }
    }
}
