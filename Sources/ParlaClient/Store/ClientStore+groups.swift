import Foundation
import GRDB
import ParlaProtocol

/// Groups in the local store: what the relay last said about each group, group messages
/// (chat `#name`), and for our own group messages who has received and read them.
extension ClientStore {
    /// A group as this client knows it.
    public struct GroupState: Sendable, Equatable, Codable {
        public var name: String
        public var title: String
        public var members: [String]
        public var admins: [String]
        /// False once we left or were removed (the history stays).
        public var isMember: Bool
        public var chat: String { "#" + name }

        public init(name: String, title: String, members: [String], admins: [String], isMember: Bool) {
            self.name = name
            self.title = title
            self.members = members
            self.admins = admins
            self.isMember = isMember
        }
    }

    /// One member's progress on one of our group messages.
    public struct MemberReceipt: Sendable, Equatable, Codable {
        public var member: String
        public var delivered: Bool
        public var read: Bool
    }

    static func registerGroupMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-groups") { db in
            try db.execute(sql: """
                CREATE TABLE groups (
                    name TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    members TEXT NOT NULL,
                    admins TEXT NOT NULL,
                    isMember INTEGER NOT NULL DEFAULT 1
                );
                CREATE TABLE group_receipts (
                    id TEXT NOT NULL,
                    member TEXT NOT NULL,
                    delivered INTEGER NOT NULL DEFAULT 0,
                    read INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (id, member)
                ) WITHOUT ROWID;
                """)
        }
    }

    /// `#name` → `name`; nil for a user name.
    public static func groupName(ofChat chat: String) -> String? {
        chat.hasPrefix("#") ? String(chat.dropFirst()) : nil
    }

    public func group(_ name: String) throws -> GroupState? {
        try pool.read { db in try Self.group(db, name) }
    }

    public func groups() throws -> [GroupState] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, title, members, admins, isMember FROM groups ORDER BY name").map(Self.groupState)
        }
    }

    static func group(_ db: Database, _ name: String) throws -> GroupState? {
        try Row.fetchOne(db, sql: "SELECT name, title, members, admins, isMember FROM groups WHERE name = ?", arguments: [name]).map(groupState)
    }

    private static func groupState(_ row: Row) -> GroupState {
        GroupState(name: row[0], title: row[1], members: (try? decode(row[2] as Data)) ?? [], admins: (try? decode(row[3] as Data)) ?? [],
                   isMember: row[4])
    }

    static func saveGroup(_ db: Database, _ group: GroupState) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO groups (name, title, members, admins, isMember) VALUES (?, ?, ?, ?, ?)",
                       arguments: [group.name, group.title, try encode(group.members), try encode(group.admins), group.isMember])
    }

    /// The relay's current view (sent before a `membership_changed` error or on request).
    func updateGroup(_ info: RelayFrame.GroupInfo, me: String) throws {
        try pool.write { db in
            try Self.saveGroup(db, GroupState(name: info.group, title: info.title, members: info.members, admins: info.admins, isMember: info.members.contains(me)))
        }
    }

    func markLeft(_ name: String, me: String) throws {
        try pool.write { db in
            guard var group = try Self.group(db, name) else { return }
            group.members.removeAll { $0 == me }
            group.admins.removeAll { $0 == me }
            group.isMember = false
            try Self.saveGroup(db, group)
        }
    }

    /// Applies membership events and writes each as a line in the group's chat; an event
    /// seen before (a redelivery) changes nothing.
    func applyGroupEvents(_ events: [RelayFrame.GroupEvent], me: String) throws -> [MessageRecord] {
        try pool.write { db in
            var notices: [MessageRecord] = []
            for event in events {
                guard try Self.message(db, sender: Self.systemSender, id: event.id) == nil else { continue }
                try Self.saveGroup(db, GroupState(name: event.group, title: event.title, members: event.members, admins: event.admins,
                                                  isMember: event.members.contains(me)))
                let text = Self.describe(event, me: me)
                let at = Self.date(event.at)
                try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, readReported) VALUES (?, ?, ?, ?, ?, 'received', ?, 1)",
                               arguments: [event.id, "#" + event.group, Self.systemSender, me, text, Self.millis(at)])
                let localID = db.lastInsertedRowID
                try Self.touchChat(db, "#" + event.group, at: at, unreadDelta: event.actor == me ? 0 : 1)
                notices.append(MessageRecord(localID: localID, id: event.id, chat: "#" + event.group, from: Self.systemSender, to: me, text: text,
                                             status: .received, failureReason: nil, sentAt: at))
            }
            return notices
        }
    }

    static func describe(_ event: RelayFrame.GroupEvent, me: String) -> String {
        func who(_ name: String) -> String { name == me ? "you" : name }
        let actor = event.actor == me ? "You" : event.actor
        let subjects = event.subjects.map(who).joined(separator: ", ")
        switch event.action {
        case .create: return "\(actor) created #\(event.group) “\(event.title)”" + (subjects.isEmpty ? "" : " with \(subjects)")
        case .add: return "\(actor) added \(subjects)"
        case .remove: return "\(actor) removed \(subjects)"
        case .leave:
            let heir = event.admins.count == 1 && !event.members.isEmpty
                ? (event.admins[0] == me ? "; you are now an admin" : "; \(event.admins[0]) is now an admin") : ""
            return "\(actor) left" + heir
        case .rename: return "\(actor) renamed the group to “\(event.title)”"
        case .promote: return "\(actor) made \(subjects) admin"
        case .demote: return "\(actor) made \(subjects) no longer admin"
        }
    }

    /// Commits a group message for the members of the moment, with a receipt row for each.
    func enqueueGroupMessage(id: String, from me: String, group: GroupState, text: String, at date: Date) throws -> MessageRecord {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt) VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                           arguments: [id, group.chat, me, group.chat, text, Self.millis(date)])
            let localID = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('group', ?, ?, ?)",
                           arguments: [id, group.chat, MessageContent.groupText(group: group.name, text: text).encoded])
            try Self.setRecipients(db, id: id, group.members.filter { $0 != me })
            try Self.touchChat(db, group.chat, at: date, unreadDelta: 0)
            return MessageRecord(localID: localID, id: id, chat: group.chat, from: me, to: group.chat, text: text, status: .queued, failureReason: nil, sentAt: date)
        }
    }

    /// The members a group message goes to changed before it went out: receipt rows follow.
    static func setRecipients(_ db: Database, id: String, _ members: [String]) throws {
        try db.execute(sql: "DELETE FROM group_receipts WHERE id = ? AND member NOT IN (SELECT value FROM json_each(?))",
                       arguments: [id, String(decoding: try encode(members), as: UTF8.self)])
        for member in members {
            try db.execute(sql: "INSERT OR IGNORE INTO group_receipts (id, member) VALUES (?, ?)", arguments: [id, member])
        }
    }

    /// The sealed copies of a group message so far (member → envelope).
    func groupCopies(outboxID: String) throws -> [String: Data] {
        try pool.read { db in try Self.groupCopies(db, outboxID) }
    }

    static func groupCopies(_ db: Database, _ outboxID: String) throws -> [String: Data] {
        try Data.fetchOne(db, sql: "SELECT envelope FROM outbox WHERE id = ?", arguments: [outboxID]).flatMap { try? decode($0) } ?? [:]
    }

    /// Keeps only the copies for `members` (someone left while the message waited) and
    /// points the receipt rows at them.
    func retarget(outboxID: String, to members: [String]) throws {
        try pool.write { db in
            let copies = try Self.groupCopies(db, outboxID)
            try db.execute(sql: "UPDATE outbox SET envelope = ? WHERE id = ?", arguments: [try Self.encode(copies.filter { members.contains($0.key) }), outboxID])
            try Self.setRecipients(db, id: outboxID, members)
        }
    }

    /// A member's receipt for our group message; the message's own tick moves on when
    /// every member has it (delivered) or has read it (read), as WhatsApp shows it.
    static func applyGroupReceipt(_ db: Database, message: MessageRecord, member: String, status: MessageStatus) throws -> MessageStatus? {
        let column = status == .read ? "read = 1, delivered = 1" : "delivered = 1"
        try db.execute(sql: "UPDATE group_receipts SET \(column) WHERE id = ? AND member = ?", arguments: [message.id, member])
        let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), SUM(delivered), SUM(read) FROM group_receipts WHERE id = ?", arguments: [message.id])
        let total: Int = row?[0] ?? 0
        let delivered: Int = row?[1] ?? 0
        let read: Int = row?[2] ?? 0
        guard total > 0 else { return nil }
        if read == total { return .read }
        if delivered == total { return .delivered }
        return nil
    }

    public func memberReceipts(messageID: String) throws -> [MemberReceipt] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT member, delivered, read FROM group_receipts WHERE id = ? ORDER BY member", arguments: [messageID])
                .map { MemberReceipt(member: $0[0], delivered: $0[1], read: $0[2]) }
        }
    }
}
