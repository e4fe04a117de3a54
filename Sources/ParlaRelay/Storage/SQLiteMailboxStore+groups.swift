import Foundation
import GRDB
import ParlaCrypto
import ParlaProtocol

/// Groups: membership checked and changed in the same commit as the events that tell
/// everyone about it, and group sends stored whole or not at all.
extension SQLiteMailboxStore {
    static func registerGroupMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-groups") { db in
            try db.execute(sql: """
                CREATE TABLE groups (name TEXT PRIMARY KEY, title TEXT NOT NULL, createdAt INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE group_members (
                    grp TEXT NOT NULL,
                    member TEXT NOT NULL,
                    admin INTEGER NOT NULL DEFAULT 0,
                    since INTEGER NOT NULL,
                    PRIMARY KEY (grp, member)
                ) WITHOUT ROWID;
                ALTER TABLE mailbox ADD COLUMN grp TEXT;
                """)
        }
    }

    static func registerSignedGroupMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-signed-groups") { db in
            try db.execute(sql: """
                ALTER TABLE groups ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE groups ADD COLUMN change BLOB;
                """)
        }
    }

    static func group(_ db: Database, _ name: String) throws -> GroupRecord? {
        guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT title, change, version FROM groups WHERE name = ?"), arguments: [name]) else { return nil }
        let rows = try Row.fetchAll(try db.cachedStatement(sql: "SELECT member, admin FROM group_members WHERE grp = ? ORDER BY since, member"), arguments: [name])
        let change = (row[1] as Data?).flatMap { try? JSONDecoder().decode(SignedGroupChange.self, from: $0) }
        return GroupRecord(name: name, title: row[0], members: rows.map { $0[0] }, admins: rows.filter { $0[1] as Bool }.map { $0[0] }, change: change,
                           version: row[2])
    }

    public func groupInfo(_ group: String, for user: String) async throws -> GroupRecord? {
        try await pool.read { db in
            guard let record = try Self.group(db, group), record.members.contains(user) else { return nil }
            return record
        }
    }

    public func applyGroupChange(_ change: GroupChange, now: Int64, expiresAt: Int64, maxMembers: Int, quota: MailboxQuota) async throws -> GroupChangeOutcome {
        let key = Self.acceptedKey(sender: change.actor, id: change.id)
        acceptedKeys.insert(key)
        return try await committer.perform(adds: true) { [acceptedLog] db in
            if try acceptedLog.contains(key, db) {
                return .duplicate
            }
            let outcome = try Self.apply(db, change, now: now, expiresAt: expiresAt, maxMembers: maxMembers, quota: quota)
            if case .applied = outcome {
                try acceptedLog.record(key, until: expiresAt, db)
            }
            return outcome
        }
    }

    private static func apply(_ db: Database, _ change: GroupChange, now: Int64, expiresAt: Int64, maxMembers: Int, quota: MailboxQuota) throws -> GroupChangeOutcome {
        var keys: [String: Data] = [:]
        for name in change.namesToLookUp {
            keys[name] = try Data.fetchOne(try db.cachedStatement(sql: "SELECT signingKey FROM users WHERE name = ?"), arguments: [name])
        }
        let plan: GroupPlan
        switch change.plan(current: try group(db, change.group), keys: keys, maxMembers: maxMembers) {
        case .failure(let refusal): return .refused(refusal)
        case .success(let planned): plan = planned
        }
        let body = try JSONEncoder().encode(plan.event)
        for member in plan.needsRoom {
            guard let room = try Self.room(in: db, of: member, from: change.actor, adding: body.count, quota: quota), room != .room else { continue }
            return .refused(refusal(room, recipient: member, ref: change.id))
        }
        let name = change.group
        if plan.deletesGroup {
            try db.cachedStatement(sql: "DELETE FROM group_members WHERE grp = ?").execute(arguments: [name])
            try db.cachedStatement(sql: "DELETE FROM groups WHERE name = ?").execute(arguments: [name])
        } else {
            if change.action == .create {
                try db.cachedStatement(sql: "INSERT INTO groups (name, title, createdAt) VALUES (?, ?, ?)").execute(arguments: [name, plan.after.title, now])
            }
            for member in plan.removed {
                try db.cachedStatement(sql: "DELETE FROM group_members WHERE grp = ? AND member = ?").execute(arguments: [name, member])
            }
            for (index, member) in plan.added.enumerated() {
                try db.cachedStatement(sql: "INSERT INTO group_members (grp, member, admin, since) VALUES (?, ?, 0, ?)").execute(arguments: [name, member, now * 1000 + Int64(index)])
            }
            try db.cachedStatement(sql: "UPDATE group_members SET admin = (member IN (SELECT value FROM json_each(?))) WHERE grp = ?")
                .execute(arguments: [String(decoding: try JSONEncoder().encode(plan.after.admins), as: UTF8.self), name])
            try db.cachedStatement(sql: "UPDATE groups SET title = ?, version = ?, change = ? WHERE name = ?")
                .execute(arguments: [plan.after.title, plan.after.version, try change.signed.map { try JSONEncoder().encode($0) }, name])
        }
        let eventID = "g-" + randomHex(bytes: 12)
        for member in plan.notify {
            try insertItem(db, to: member, id: eventID, from: change.actor, kind: .groupEvent, body: body, acceptedAt: now, expiresAt: expiresAt, group: name)
        }
        return .applied(plan.after, notify: plan.notify)
    }

    public func acceptGroupSend(id: String, from sender: String, group name: String, copies: [(to: String, body: Data)], now: Int64, expiresAt: Int64,
                                quota: MailboxQuota) async throws -> GroupSendOutcome {
        let key = Self.acceptedKey(sender: sender, id: id)
        acceptedKeys.insert(key)
        mergeAcceptedLogIfFull(now: now)
        do {
            return try await storeGroupSend(key: key, id: id, sender: sender, name: name, copies: copies, now: now, expiresAt: expiresAt, quota: quota)
        } catch let refusal as GroupSendRefusal {
            return refusal.outcome
        }
    }

    /// Thrown to undo the copies already written when a later one cannot be stored.
    private struct GroupSendRefusal: Error {
        var outcome: GroupSendOutcome
    }

    private func storeGroupSend(key: Data, id: String, sender: String, name: String, copies: [(to: String, body: Data)], now: Int64, expiresAt: Int64,
                                quota: MailboxQuota) async throws -> GroupSendOutcome {
        try await committer.perform(adds: true) { [acceptedLog] db in
            if try acceptedLog.contains(key, db) {
                return .duplicate
            }
            guard let group = try Self.group(db, name) else { return .refused(FrameError(.unknownGroup, "no group named #\(name)", ref: id)) }
            guard group.members.contains(sender) else { return .refused(FrameError(.notMember, "you are not a member of #\(name)", ref: id)) }
            let expected = Set(group.members.filter { $0 != sender })
            let recipients = copies.map(\.to)
            guard Set(recipients) == expected, recipients.count == expected.count else { return .membershipChanged(group) }
            for copy in copies {
                guard let room = try Self.room(in: db, of: copy.to, from: sender, adding: copy.body.count, quota: quota) else {
                    return .membershipChanged(group)
                }
                if room != .room { return .refused(Self.refusal(room, recipient: copy.to, ref: id)) }
            }
            for copy in copies {
                guard try Self.insertItem(db, to: copy.to, id: id, from: sender, kind: .message, body: copy.body, acceptedAt: now, expiresAt: expiresAt, group: name) else {
                    throw GroupSendRefusal(outcome: .refused(FrameError(.idConflict, "id '\(id)' is already used for a message to \(copy.to); choose another", ref: id)))
                }
            }
            try acceptedLog.record(key, until: expiresAt, db)
            return .stored(recipients: recipients)
        }
    }
}
