import Foundation
import Logging
import NIOCore
import ParlaProtocol
import ParlaRelay
import PostgresNIO

/// Groups: the same plan as in SQLite (`GroupChange.plan`), read and written in one
/// transaction, with the group's row locked so two nodes changing one group take turns.
extension PostgresMailboxStore {
    static func group(_ connection: PostgresConnection, _ name: String, locking: Bool, logger: Logger) async throws -> GroupRecord? {
        var header: (title: String, change: ByteBuffer?, version: Int64)?
        let lock: PostgresQuery = locking ? "SELECT title, change, version FROM groups WHERE name = \(name) FOR UPDATE"
            : "SELECT title, change, version FROM groups WHERE name = \(name)"
        for try await row in try await connection.query(lock, logger: logger).decode((String, ByteBuffer?, Int64).self) {
            header = row
        }
        guard let header else { return nil }
        var members: [String] = [], admins: [String] = []
        for try await (member, admin) in try await connection.query("""
            SELECT member, admin FROM group_members WHERE grp = \(name) ORDER BY since, member
            """, logger: logger).decode((String, Bool).self) {
            members.append(member)
            if admin { admins.append(member) }
        }
        let change = header.change.flatMap { try? JSONDecoder().decode(SignedGroupChange.self, from: Data(buffer: $0)) }
        return GroupRecord(name: name, title: header.title, members: members, admins: admins, change: change, version: Int(header.version))
    }

    public func groupInfo(_ group: String, for user: String) async throws -> GroupRecord? {
        try await client.withConnection { [logger] connection in
            guard let record = try await Self.group(connection, group, locking: false, logger: logger), record.members.contains(user) else { return nil }
            return record
        }
    }

    public func applyGroupChange(_ change: GroupChange, now: Int64, expiresAt: Int64, maxMembers: Int, quota: MailboxQuota) async throws -> GroupChangeOutcome {
        let key = ByteBuffer(data: SQLiteMailboxStore.acceptedKey(sender: change.actor, id: change.id))
        // The members now and those the change names (the actor among them) get the event.
        let locks = PostgresCommitter.Locks.found { [logger] connection in
            var names = change.subjects + [change.actor]
            for try await member in try await connection.query("SELECT member FROM group_members WHERE grp = \(change.group)", logger: logger).decode(String.self) {
                names.append(member)
            }
            return names
        }
        return try await committer.perform(locking: locks) { [logger] connection -> GroupChangeOutcome in
            if try await connection.query("SELECT 1 FROM accepted WHERE key = \(key)", logger: logger).collect().count > 0 {
                return .duplicate
            }
            // A create locks nothing yet: the primary key makes the second of two creates fail, and it runs again alone.
            let current = try await Self.group(connection, change.group, locking: true, logger: logger)
            var keys: [String: Data] = [:]
            for try await (name, signingKey) in try await connection.query("""
                SELECT name, signing_key FROM users WHERE name = ANY(\(change.namesToLookUp))
                """, logger: logger).decode((String, ByteBuffer).self) {
                keys[name] = Data(buffer: signingKey)
            }
            let plan: GroupPlan
            switch change.plan(current: current, keys: keys, maxMembers: maxMembers) {
            case .failure(let refusal): return .refused(refusal)
            case .success(let planned): plan = planned
            }
            let body = try JSONEncoder().encode(plan.event)
            for member in plan.needsRoom {
                guard let room = try await Self.room(connection, of: member, from: change.actor, adding: body.count, quota: quota, logger: logger),
                      room != .room else { continue }
                return .refused(MailboxQuota.refusal(senderShareUsed: room == .senderShareUsed, recipient: member, ref: change.id))
            }
            try await Self.write(plan, of: change, now: now, on: connection, logger: logger)
            let eventID = "g-" + randomHex(bytes: 12)
            for member in plan.notify {
                try await Self.insertItem(connection, to: member, id: eventID, from: change.actor, kind: .groupEvent, body: body, acceptedAt: now,
                                          expiresAt: expiresAt, group: change.group, logger: logger)
            }
            try await connection.query("INSERT INTO accepted (key, expires_at) VALUES (\(key), \(expiresAt))", logger: logger)
            return .applied(plan.after, notify: plan.notify)
        }
    }

    private static func write(_ plan: GroupPlan, of change: GroupChange, now: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let name = change.group
        if plan.deletesGroup {
            try await connection.query("DELETE FROM group_members WHERE grp = \(name)", logger: logger)
            try await connection.query("DELETE FROM groups WHERE name = \(name)", logger: logger)
            return
        }
        if change.action == .create {
            try await connection.query("INSERT INTO groups (name, title, created_at) VALUES (\(name), \(plan.after.title), \(now))", logger: logger)
        }
        if !plan.removed.isEmpty {
            try await connection.query("DELETE FROM group_members WHERE grp = \(name) AND member = ANY(\(plan.removed))", logger: logger)
        }
        if !plan.added.isEmpty {
            let since = plan.added.indices.map { now * 1000 + Int64($0) }
            try await connection.query("""
                INSERT INTO group_members (grp, member, admin, since) SELECT \(name), m, false, s FROM unnest(\(plan.added)::text[], \(since)::bigint[]) AS t(m, s)
                """, logger: logger)
        }
        let signed = try change.signed.map { ByteBuffer(data: try JSONEncoder().encode($0)) }
        try await connection.query("UPDATE group_members SET admin = (member = ANY(\(plan.after.admins))) WHERE grp = \(name)", logger: logger)
        try await connection.query("""
            UPDATE groups SET title = \(plan.after.title), version = \(Int64(plan.after.version)), change = \(signed) WHERE name = \(name)
            """, logger: logger)
    }

    public func acceptGroupSend(id: String, from sender: String, group name: String, copies: [(to: String, body: Data)], now: Int64, expiresAt: Int64,
                                quota: MailboxQuota) async throws -> GroupSendOutcome {
        let key = ByteBuffer(data: SQLiteMailboxStore.acceptedKey(sender: sender, id: id))
        let copies = copies.map { Copy(to: $0.to, body: $0.body) }
        return try await committer.perform(locking: .users(copies.map(\.to))) { [logger] connection -> GroupSendOutcome in
            if try await connection.query("SELECT 1 FROM accepted WHERE key = \(key)", logger: logger).collect().count > 0 {
                return .duplicate
            }
            // Shared lock: sends to a group run side by side, a change to it waits for them.
            let lock: PostgresQuery = "SELECT 1 FROM groups WHERE name = \(name) FOR SHARE"
            _ = try await connection.query(lock, logger: logger).collect()
            guard let group = try await Self.group(connection, name, locking: false, logger: logger) else {
                return .refused(FrameError(.unknownGroup, "no group named #\(name)", ref: id))
            }
            guard group.members.contains(sender) else { return .refused(FrameError(.notMember, "you are not a member of #\(name)", ref: id)) }
            let expected = Set(group.members.filter { $0 != sender })
            let recipients = copies.map(\.to)
            guard Set(recipients) == expected, recipients.count == expected.count else { return .membershipChanged(group) }
            // Mailboxes locked in name order, as every acceptance does.
            for copy in copies.sorted(by: { $0.to < $1.to }) {
                guard let room = try await Self.room(connection, of: copy.to, from: sender, adding: copy.body.count, quota: quota, logger: logger) else {
                    return .membershipChanged(group)
                }
                if room != .room { return .refused(MailboxQuota.refusal(senderShareUsed: room == .senderShareUsed, recipient: copy.to, ref: id)) }
            }
            for try await taken in try await connection.query("""
                SELECT recipient FROM mailbox WHERE recipient = ANY(\(recipients)) AND id = \(id) ORDER BY recipient LIMIT 1
                """, logger: logger).decode(String.self) {
                return .refused(FrameError(.idConflict, "id '\(id)' is already used for a message to \(taken); choose another", ref: id))
            }
            for copy in copies {
                try await Self.insertItem(connection, to: copy.to, id: id, from: sender, kind: .message, body: copy.body, acceptedAt: now,
                                          expiresAt: expiresAt, group: name, logger: logger)
            }
            try await connection.query("INSERT INTO accepted (key, expires_at) VALUES (\(key), \(expiresAt))", logger: logger)
            return .stored(recipients: recipients)
        }
    }

    private struct Copy: Sendable {
        var to: String
        var body: Data
    }
}
