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
        do {
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
        } catch let refusal as ChangeRefusal {
            return .refused(refusal.error)
        }
    }

    /// Thrown to undo the change already written: its signed statement is not the state the
    /// change leads to, or someone it adds has no room for the news.
    private struct ChangeRefusal: Error {
        var error: FrameError
    }

    /// The relay cannot make clients accept a change (they check the statement themselves), but
    /// it refuses one whose statement they would reject, so the sender hears why at once.
    private static func checkSigned(_ db: Database, _ change: GroupChange, _ signed: SignedGroupChange, after: GroupRecord, previousVersion: Int) throws {
        func refuse(_ code: ErrorCode, _ message: String) -> ChangeRefusal { ChangeRefusal(error: FrameError(code, message, ref: change.id)) }
        guard let statement = signed.decoded(), statement.group == change.group, statement.actor == change.actor, statement.action == change.action else {
            throw refuse(.badFrame, "'change' is not a statement of this change to #\(change.group)")
        }
        guard statement.version == previousVersion + 1 else {
            throw refuse(.membershipChanged, "#\(change.group) is at version \(previousVersion), not \(statement.version - 1): wait for its changes to arrive and try again")
        }
        guard statement.memberNames == after.members || Set(statement.memberNames) == Set(after.members) && statement.members.count == after.members.count,
              Set(statement.admins) == Set(after.admins), statement.title == after.title else {
            throw refuse(.badFrame, "the signed members, admins or title are not what this change makes of #\(change.group)")
        }
        for member in statement.members {
            let key = try Data.fetchOne(try db.cachedStatement(sql: "SELECT signingKey FROM users WHERE name = ?"), arguments: [member.name])
            guard key == member.key else { throw refuse(.badFrame, "the signed key for \(member.name) is not the one \(member.name) registered") }
        }
        guard let actorKey = try Data.fetchOne(try db.cachedStatement(sql: "SELECT signingKey FROM users WHERE name = ?"), arguments: [change.actor]),
              signed.isSigned(by: actorKey) else {
            throw refuse(.badSignature, "the group statement is not signed by \(change.actor)'s key")
        }
    }

    private static func apply(_ db: Database, _ change: GroupChange, now: Int64, expiresAt: Int64, maxMembers: Int, quota: MailboxQuota) throws -> GroupChangeOutcome {
        func refuse(_ code: ErrorCode, _ message: String) -> GroupChangeOutcome { .refused(FrameError(code, message, ref: change.id)) }
        let name = change.group
        let subjects = change.subjects.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for subject in subjects where try Bool.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM users WHERE name = ?"), arguments: [subject]) != true {
            return refuse(.unknownUser, "no user named '\(subject)' on this relay")
        }
        var notifyAlso: [String] = []
        let previousVersion = try Int.fetchOne(try db.cachedStatement(sql: "SELECT version FROM groups WHERE name = ?"), arguments: [name]) ?? 0
        if change.action == .create {
            guard try group(db, name) == nil else { return refuse(.groupExists, "a group named #\(name) already exists") }
            guard let title = change.title, GroupLimits.isValidTitle(title) else { return refuse(.badFrame, "a group needs a title of 1-\(GroupLimits.maxTitleBytes) bytes") }
            let members = [change.actor] + subjects.filter { $0 != change.actor }
            guard members.count <= maxMembers else { return refuse(.groupFull, "a group has at most \(maxMembers) members") }
            try db.cachedStatement(sql: "INSERT INTO groups (name, title, createdAt) VALUES (?, ?, ?)").execute(arguments: [name, title, now])
            for (index, member) in members.enumerated() {
                try insertMember(db, name, member, admin: index == 0, since: now * 1000 + Int64(index))
            }
        } else {
            guard let current = try group(db, name) else { return refuse(.unknownGroup, "no group named #\(name)") }
            guard current.members.contains(change.actor) else { return refuse(.notMember, "you are not a member of #\(name)") }
            let isAdmin = current.admins.contains(change.actor)
            switch change.action {
            case .create:
                break
            case .add:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can add members") }
                let new = subjects.filter { !current.members.contains($0) }
                guard !new.isEmpty else { return refuse(.badFrame, "\(subjects.joined(separator: ", ")) already in #\(name)") }
                guard current.members.count + new.count <= maxMembers else { return refuse(.groupFull, "#\(name) would have more than \(maxMembers) members") }
                for (index, member) in new.enumerated() { try insertMember(db, name, member, admin: false, since: now * 1000 + Int64(index)) }
            case .remove:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can remove members") }
                guard !subjects.isEmpty, !subjects.contains(change.actor) else { return refuse(.badFrame, "name the members to remove (to go yourself, leave)") }
                if let outsider = subjects.first(where: { !current.members.contains($0) }) { return refuse(.notMember, "\(outsider) is not in #\(name)") }
                for member in subjects { try deleteMember(db, name, member) }
                notifyAlso = subjects
            case .leave:
                try deleteMember(db, name, change.actor)
                notifyAlso = [change.actor]
                let remaining = current.members.filter { $0 != change.actor }
                if remaining.isEmpty {
                    try db.cachedStatement(sql: "DELETE FROM groups WHERE name = ?").execute(arguments: [name])
                } else if !current.admins.contains(where: { $0 != change.actor }) {
                    // The last admin left: the longest-standing member takes over, so the group stays manageable.
                    try db.cachedStatement(sql: "UPDATE group_members SET admin = 1 WHERE grp = ? AND member = ?").execute(arguments: [name, remaining[0]])
                }
            case .rename:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can rename it") }
                guard let title = change.title, GroupLimits.isValidTitle(title) else { return refuse(.badFrame, "a group needs a title of 1-\(GroupLimits.maxTitleBytes) bytes") }
                try db.cachedStatement(sql: "UPDATE groups SET title = ? WHERE name = ?").execute(arguments: [title, name])
            case .promote, .demote:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can \(change.action.rawValue) members") }
                guard !subjects.isEmpty else { return refuse(.badFrame, "name the members to \(change.action.rawValue)") }
                if let outsider = subjects.first(where: { !current.members.contains($0) }) { return refuse(.notMember, "\(outsider) is not in #\(name)") }
                if change.action == .demote, Set(current.admins).isSubset(of: Set(subjects)) {
                    return refuse(.badFrame, "#\(name) needs at least one admin")
                }
                try db.cachedStatement(sql: "UPDATE group_members SET admin = ? WHERE grp = ? AND member IN (SELECT value FROM json_each(?))")
                    .execute(arguments: [change.action == .promote, name, String(decoding: try JSONEncoder().encode(subjects), as: UTF8.self)])
            }
        }
        var after = try group(db, name) ?? GroupRecord(name: name, title: "", members: [], admins: [])
        if let signed = change.signed {
            try checkSigned(db, change, signed, after: after, previousVersion: previousVersion)
        }
        after.change = change.signed
        after.version = previousVersion + 1
        let encodedChange = try change.signed.map { try JSONEncoder().encode($0) }
        try db.cachedStatement(sql: "UPDATE groups SET version = ?, change = ? WHERE name = ?").execute(arguments: [previousVersion + 1, encodedChange, name])
        let event = GroupEventRecord(action: change.action, subjects: change.action == .create ? after.members.filter { $0 != change.actor } : subjects,
                                     members: after.members, admins: after.admins, title: after.title, change: change.signed)
        let body = try JSONEncoder().encode(event)
        let notify = after.members + notifyAlso.filter { !after.members.contains($0) }
        let eventID = "g-" + randomHex(bytes: 12)
        if change.action == .create || change.action == .add {
            // Being put in a group is news from the actor like a message: it needs room in the
            // newcomer's mailbox and the actor's share of it. Everyone else's news is counted.
            for member in subjects where member != change.actor {
                guard let room = try Self.room(in: db, of: member, from: change.actor, adding: body.count, quota: quota), room != .room else { continue }
                throw ChangeRefusal(error: refusal(room, recipient: member, ref: change.id))
            }
        }
        for member in notify {
            try insertItem(db, to: member, id: eventID, from: change.actor, kind: .groupEvent, body: body, acceptedAt: now, expiresAt: expiresAt, group: name)
        }
        return .applied(after, notify: notify)
    }

    private static func insertMember(_ db: Database, _ group: String, _ member: String, admin: Bool, since: Int64) throws {
        try db.cachedStatement(sql: "INSERT INTO group_members (grp, member, admin, since) VALUES (?, ?, ?, ?)").execute(arguments: [group, member, admin, since])
    }

    private static func deleteMember(_ db: Database, _ group: String, _ member: String) throws {
        try db.cachedStatement(sql: "DELETE FROM group_members WHERE grp = ? AND member = ?").execute(arguments: [group, member])
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
