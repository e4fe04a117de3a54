import Foundation
import GRDB
import ParlaCrypto
import ParlaProtocol

/// Groups in the local store: the newest signed state of each group this client could check,
/// group messages (chat `#name`), and for our own group messages who has received and read them.
extension ClientStore {
    /// A group as this client knows it.
    public struct GroupState: Sendable, Equatable, Codable {
        public var name: String
        public var title: String
        public var members: [String]
        public var admins: [String]
        /// False once we left or were removed (the history stays).
        public var isMember: Bool
        /// The signed statement these members come from; nil for a group only an older Parla
        /// (or a group message ahead of its group) told us about: nothing is sent to it then.
        public let change: SignedGroupChange?
        /// `change` decoded once, when the row is read: sealing each group message consults it.
        public let statement: GroupStatement?
        public var chat: String { "#" + name }
        public var version: Int { statement?.version ?? 0 }

        public init(name: String, title: String, members: [String], admins: [String], isMember: Bool, change: SignedGroupChange? = nil) {
            self.name = name
            self.title = title
            self.members = members
            self.admins = admins
            self.isMember = isMember
            self.change = change
            self.statement = change?.decoded()
        }

        init(_ statement: GroupStatement, change: SignedGroupChange, me: String) {
            self.init(name: statement.group, title: statement.title, members: statement.memberNames, admins: statement.admins,
                      isMember: statement.memberNames.contains(me), change: change)
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

    static func registerSignedGroupMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-signed-groups") { db in
            try db.execute(sql: "ALTER TABLE groups ADD COLUMN change BLOB")
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
            try Row.fetchAll(db, sql: "SELECT name, title, members, admins, isMember, change FROM groups ORDER BY name").map(Self.groupState)
        }
    }

    static func group(_ db: Database, _ name: String) throws -> GroupState? {
        try Row.fetchOne(db, sql: "SELECT name, title, members, admins, isMember, change FROM groups WHERE name = ?", arguments: [name]).map(groupState)
    }

    private static func groupState(_ row: Row) -> GroupState {
        GroupState(name: row[0], title: row[1], members: (try? decode(row[2] as Data)) ?? [], admins: (try? decode(row[3] as Data)) ?? [],
                   isMember: row[4], change: (row[5] as Data?).flatMap { try? decode($0) })
    }

    static func saveGroup(_ db: Database, _ group: GroupState) throws {
        // An upsert, not a replace: an invitation outlives the changes that follow it.
        try db.execute(sql: """
            INSERT INTO groups (name, title, members, admins, isMember, change) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET title = excluded.title, members = excluded.members, admins = excluded.admins,
                isMember = excluded.isMember, change = excluded.change
            """,
                       arguments: [group.name, group.title, try encode(group.members), try encode(group.admins), group.isMember,
                                   try group.change.map(encode)])
    }

    /// Applies membership events that carry a statement we can check (signed by the actor's
    /// key, a change the actor may make, following the state we have) and writes each as a line
    /// in the group's chat. Anything else the relay sends changes nothing and is said as a
    /// warning there. An event seen before (a redelivery) changes nothing.
    func applyGroupEvents(_ events: [RelayFrame.GroupEvent], me: String, myKey: Data) throws -> (notices: [MessageRecord], changed: Set<String>) {
        try pool.write { db in
            var notices: [MessageRecord] = []
            var changed: Set<String> = []
            for event in events {
                guard try Self.message(db, sender: Self.systemSender, id: event.id) == nil else { continue }
                // News of a group we hold nothing of and are not in (the echo of leaving a declined
                // invitation, whose chat is deleted) would only bring the chat back.
                if try Self.group(db, event.group) == nil, !event.members.contains(me) { continue }
                let text: String
                switch try Self.check(db, event, me: me, myKey: myKey) {
                case .accepted(let statement, let change):
                    try Self.saveGroup(db, GroupState(statement, change: change, me: me))
                    changed.insert(event.group)
                    text = Self.describe(statement, me: me) + (try Self.markInvitation(db, statement, me: me).map { ". " + $0 } ?? "")
                case .known(let statement):
                    text = Self.describe(statement, me: me)
                case .rejected(let reason):
                    let claimed = GroupStatement(group: event.group, version: 0, action: event.action, actor: event.actor, subjects: event.subjects,
                                                 title: event.title, members: event.members.map { .init(name: $0, key: Data()) }, admins: event.admins)
                    text = "⚠ Ignored a change to #\(event.group) the relay sent (“\(Self.describe(claimed, me: me))”): \(reason). "
                        + "#\(event.group) stays as it was: \(try Self.group(db, event.group)?.members.joined(separator: ", ") ?? "unknown to this client")."
                }
                let at = Self.date(event.at)
                try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, readReported) VALUES (?, ?, ?, ?, ?, 'received', ?, 1)",
                               arguments: [event.id, "#" + event.group, Self.systemSender, me, text, Self.millis(at)])
                let localID = db.lastInsertedRowID
                try Self.touchChat(db, "#" + event.group, at: at, unreadDelta: event.actor == me ? 0 : 1)
                notices.append(MessageRecord(localID: localID, id: event.id, chat: "#" + event.group, from: Self.systemSender, to: me, text: text,
                                             status: .received, failureReason: nil, sentAt: at))
            }
            return (notices, changed)
        }
    }

    /// How the relay's `groupInfo` stands to the signed state we hold.
    enum RelayGroupView: Sendable, Equatable {
        case matches
        /// The relay counts more changes than we have seen: their events are on the way.
        case ahead
        /// The relay's members are not the signed ones, at a version we have.
        case differs(extra: [String], missing: [String])
    }

    /// Compares the relay's view of a group with ours. Only a group we hold no signed state of
    /// takes the relay's statement, and only one we can check as a first-contact event.
    func compareGroupInfo(_ info: RelayFrame.GroupInfo, me: String, myKey: Data) throws -> RelayGroupView {
        try pool.write { db in
            var local = try Self.group(db, info.group)
            if local?.change == nil, let change = info.change, let statement = change.decoded() {
                let event = RelayFrame.GroupEvent(id: "", group: info.group, action: statement.action, actor: statement.actor, subjects: statement.subjects,
                                                  members: info.members, admins: info.admins, title: info.title, at: 0, change: change)
                if case .accepted(let accepted, let change) = try Self.check(db, event, me: me, myKey: myKey) {
                    let adopted = GroupState(accepted, change: change, me: me)
                    try Self.saveGroup(db, adopted)
                    local = adopted
                }
            }
            let ours = local?.members ?? []
            if Set(ours) == Set(info.members) { return .matches }
            if info.version > local?.version ?? 0 { return .ahead }
            return .differs(extra: info.members.filter { !ours.contains($0) }, missing: ours.filter { !info.members.contains($0) })
        }
    }

    /// A line of Parla's own in a chat.
    func notice(chat: String, text: String, me: String) throws -> MessageRecord {
        try pool.write { db in try Self.insertNotice(db, chat: chat, text: text, me: me, at: Date()) }
    }

    /// Our own change, acknowledged by the relay: the state follows at once (its event, when it
    /// comes, only writes the line).
    func applyOwnGroupChange(_ change: SignedGroupChange, me: String) throws {
        guard let statement = change.decoded() else { return }
        try pool.write { db in
            if let current = try Self.group(db, statement.group), current.version >= statement.version { return }
            try Self.saveGroup(db, GroupState(statement, change: change, me: me))
        }
    }

    enum GroupEventCheck {
        case accepted(GroupStatement, SignedGroupChange)
        /// The statement we already have (our own change, or a redelivery under a new id).
        case known(GroupStatement)
        case rejected(String)
    }

    static func check(_ db: Database, _ event: RelayFrame.GroupEvent, me: String, myKey: Data) throws -> GroupEventCheck {
        guard let change = event.change, let statement = change.decoded() else { return .rejected("it is not signed by anyone") }
        guard statement.group == event.group, statement.actor == event.actor, statement.action == event.action else {
            return .rejected("its signed statement is about another change")
        }
        let stored = try group(db, event.group)
        // A group message ahead of its group left a placeholder with no admins: there is nothing to follow from.
        let current = stored.flatMap { $0.admins.isEmpty && $0.change == nil ? nil : $0 }
        if let known = current?.statement, known.version >= statement.version {
            return known.version == statement.version && current?.change == change
                ? .known(statement) : .rejected("it is not newer than version \(known.version) of #\(event.group), which we have")
        }
        let pinned = try contact(db, event.actor)?.signingKey
        let previous = current.map { legacyOrSigned($0, next: statement) }
        // The actor's key: from the state we have, else the one we pinned, else the statement's own (first contact).
        guard let actorKey = previous?.key(of: event.actor) ?? pinned ?? statement.key(of: event.actor) else {
            return .rejected("there is no key of \(event.actor)'s to check it with")
        }
        if let pinned, pinned != actorKey { return .rejected("it is signed with a key that is not \(event.actor)'s") }
        guard change.isSigned(by: actorKey) else { return .rejected("it is not signed by \(event.actor)'s key") }
        if let key = statement.key(of: me), key != myKey { return .rejected("it lists you with a key that is not yours") }
        if let previous {
            if let rejection = GroupTransition.check(statement, follows: previous) { return .rejected(rejection.reason) }
        } else {
            // The first we hear of the group: we were added, or it was created with us. The signer vouches for it.
            guard statement.action == .create ? statement.version == 1 : statement.admins.contains(event.actor) || statement.action == .leave else {
                return .rejected("\(event.actor) is not an admin of #\(event.group)")
            }
        }
        return .accepted(statement, change)
    }

    /// The state a change must follow: the signed one we have, or for a group an older Parla
    /// set up (names only), those names with the keys this statement and our contacts give them.
    private static func legacyOrSigned(_ group: GroupState, next: GroupStatement) -> GroupStatement {
        if let statement = group.statement { return statement }
        return GroupStatement(group: group.name, version: next.version - 1, action: .create, actor: group.admins.first ?? "", subjects: [],
                              title: group.title, members: group.members.map { .init(name: $0, key: next.key(of: $0) ?? Data()) },
                              admins: group.admins)
    }

    static func describe(_ change: GroupStatement, me: String) -> String {
        func who(_ name: String) -> String { name == me ? "you" : name }
        let actor = change.actor == me ? "You" : change.actor
        let subjects = change.subjects.map(who).joined(separator: ", ")
        switch change.action {
        case .create: return "\(actor) created #\(change.group) “\(change.title)”" + (subjects.isEmpty ? "" : " with \(subjects)")
        case .add: return "\(actor) added \(subjects)"
        case .remove: return "\(actor) removed \(subjects)"
        case .leave:
            let heir = change.admins.count == 1 && !change.members.isEmpty
                ? (change.admins[0] == me ? "; you are now an admin" : "; \(change.admins[0]) is now an admin") : ""
            return "\(actor) left" + heir
        case .rename: return "\(actor) renamed the group to “\(change.title)”"
        case .promote: return "\(actor) made \(subjects) admin"
        case .demote: return "\(actor) made \(subjects) no longer admin"
        }
    }

    /// Commits a group message for the members of the moment, with a receipt row for each.
    func enqueueGroupMessage(id: String, from me: String, group: GroupState, text: String, replyTo: String? = nil, at date: Date) throws -> MessageRecord {
        try pool.write { db in
            let expiresAt = try Self.expiry(db, chat: group.chat, from: date)
            try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, replyTo, expiresAt) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                           arguments: [id, group.chat, me, group.chat, text, Self.millis(date), replyTo, expiresAt])
            let localID = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('group', ?, ?, ?)",
                           arguments: [id, group.chat, MessageContent.written(text, group: group.name, replyTo: replyTo).encoded])
            try Self.setRecipients(db, id: id, group.members.filter { $0 != me })
            try Self.touchChat(db, group.chat, at: date, unreadDelta: 0)
            return MessageRecord(localID: localID, id: id, chat: group.chat, from: me, to: group.chat, text: text, status: .queued, failureReason: nil, sentAt: date,
                                 replyTo: replyTo, expiresAt: expiresAt.map(Self.date))
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
