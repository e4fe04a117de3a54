import Foundation
import GRDB
import ParlaProtocol

/// The profile's database: history, chats, outbox and settings. Every change that
/// matters for delivery is committed before the network hears about it.
public final class ClientStore: Sendable {
    let pool: DatabasePool
    let searchIndex: SearchIndexSwitch

    public init(path: String) throws {
        // The whole history in plaintext: the owner's only.
        try PrivateStorage.prepare(directory: (path as NSString).deletingLastPathComponent, file: (path as NSString).lastPathComponent)
        let searchIndex = SearchIndexSwitch()
        self.searchIndex = searchIndex
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { [searchIndex] db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            searchIndex.install(in: db)
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE chats (
                    name TEXT PRIMARY KEY,
                    unread INTEGER NOT NULL DEFAULT 0,
                    lastActivity INTEGER NOT NULL
                );
                CREATE TABLE messages (
                    localID INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL,
                    chat TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    recipient TEXT NOT NULL,
                    text TEXT NOT NULL,
                    status TEXT NOT NULL,
                    failureReason TEXT,
                    sentAt INTEGER NOT NULL,
                    readReported INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (sender, id)
                );
                CREATE INDEX messages_by_chat ON messages(chat, localID);
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    id TEXT NOT NULL UNIQUE,
                    recipient TEXT NOT NULL,
                    payload BLOB NOT NULL
                );
                CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='localID', tokenize='unicode61');
                CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
                    INSERT INTO messages_fts(rowid, text) VALUES (new.localID, new.text);
                END;
                CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
                    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.localID, old.text);
                END;
                """)
        }
        registerEndToEndMigration(&migrator)
        registerResendMigration(&migrator)
        registerGroupMigration(&migrator)
        registerSearchMigration(&migrator)
        registerChatSettingsMigration(&migrator)
        registerResendGuardMigration(&migrator)
        registerKeyChangeMigration(&migrator)
        registerSignedGroupMigration(&migrator)
        registerInvitationMigration(&migrator)
        migrator.registerMigration("v11-replies") { db in
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN replyTo TEXT")
        }
        registerReactionMigration(&migrator)
        registerEditMigration(&migrator)
        registerDisappearingMigration(&migrator)
        registerAttachmentMigration(&migrator)
        return migrator
    }

    // MARK: Settings

    public func setting(_ key: String) throws -> String? {
        try pool.read { try String.fetchOne($0, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try pool.write { try $0.execute(sql: "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", arguments: [key, value]) }
    }

    // MARK: Outgoing

    /// Commits a new outgoing message and its outbox entry in one transaction.
    func enqueueMessage(id: String, from me: String, to peer: String, text: String, replyTo: String? = nil, at date: Date) throws -> MessageRecord {
        try pool.write { db in
            let expiresAt = try Self.expiry(db, chat: peer, from: date)
            try db.execute(
                sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, replyTo, expiresAt) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                arguments: [id, peer, me, peer, text, Self.millis(date), replyTo, expiresAt])
            let localID = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('message', ?, ?, ?)",
                           arguments: [id, peer, MessageContent.written(text, group: nil, replyTo: replyTo).encoded])
            try Self.touchChat(db, peer, at: date, unreadDelta: 0)
            return MessageRecord(localID: localID, id: id, chat: peer, from: me, to: peer, text: text, status: .queued, failureReason: nil, sentAt: date,
                                 replyTo: replyTo, expiresAt: expiresAt.map(Self.date))
        }
    }

    struct OutboxItem: Sendable, Equatable {
        /// `control`: an encrypted `MessageContent` of Parla's own (a resend request or a resent copy), never shown.
        enum Kind: String, Sendable { case message, read, control, group }
        var seq: Int64
        var kind: Kind
        var id: String
        var recipient: String
        var payload: Data
        /// The encrypted body, once made: a resend sends exactly these bytes again.
        var envelope: Data?
    }

    func outbox(limit: Int) throws -> [OutboxItem] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, kind, id, recipient, payload, envelope FROM outbox ORDER BY seq LIMIT ?", arguments: [limit]).compactMap { row in
                guard let kind = OutboxItem.Kind(rawValue: row[1]) else { return nil }
                return OutboxItem(seq: row[0], kind: kind, id: row[2], recipient: row[3], payload: row[4], envelope: row[5])
            }
        }
    }

    /// Whom a waiting outbox item goes to (`#name` for a group message).
    func outboxRecipient(id: String) throws -> String? {
        try pool.read { try String.fetchOne($0, sql: "SELECT recipient FROM outbox WHERE id = ?", arguments: [id]) }
    }

    public func outboxCount() throws -> Int {
        try pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox WHERE kind IN ('message', 'group')") ?? 0 }
    }

    /// The relay acknowledged outbox items: they leave the outbox; a message becomes `sent`, or
    /// `delivered` when the relay's `ack` said the recipient already has it (a live delivery).
    /// The acks that came in together share one transaction: one sync to disk, not one each.
    /// Returns the messages whose tick changed.
    func acknowledged(_ acks: [(id: String, delivered: Bool)], me: String) throws -> [MessageRecord] {
        try pool.write { db in
            var changed: [MessageRecord] = []
            for (id, delivered) in acks {
                guard let kind = try String.fetchOne(db.cachedStatement(sql: "DELETE FROM outbox WHERE id = ? RETURNING kind"), arguments: [id]),
                      kind == OutboxItem.Kind.message.rawValue || kind == OutboxItem.Kind.group.rawValue else { continue }
                let status = delivered ? MessageStatus.delivered : .sent
                try db.cachedStatement(sql: "UPDATE messages SET status = ? WHERE sender = ? AND id = ? AND status = 'queued'")
                    .execute(arguments: [status.rawValue, me, id])
                if let record = try Self.message(db, sender: me, id: id) { changed.append(record) }
            }
            return changed
        }
    }

    /// The relay refused an outbox item for good.
    func rejected(id: String, me: String, reason: String) throws -> MessageRecord? {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [id])
            try db.execute(sql: "UPDATE messages SET status = 'failed', failureReason = ? WHERE sender = ? AND id = ? AND status IN ('queued', 'sent')", arguments: [reason, me, id])
            return try Self.message(db, sender: me, id: id)
        }
    }

    /// Receipts move outgoing messages forward, never back, and only the recipient's count.
    func applyReceipt(status: MessageStatus, messageIds: [String], me: String, from member: String? = nil, reason: String? = nil) throws -> [MessageRecord] {
        try pool.write { db in
            var changed: [MessageRecord] = []
            for id in messageIds {
                guard let current = try Self.message(db, sender: me, id: id) else { continue }
                // Only the person a message went to can have received or read it: a receipt from
                // anyone else (a stranger naming our ids) changes nothing.
                if let member {
                    if current.to.hasPrefix("#") {
                        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM group_receipts WHERE id = ? AND member = ?", arguments: [id, member]) == true else { continue }
                    } else if current.to != member {
                        continue
                    }
                }
                var status = status
                if current.to.hasPrefix("#"), status == .delivered || status == .read, let member {
                    // A group message moves on only when every member got there.
                    guard let aggregate = try Self.applyGroupReceipt(db, message: current, member: member, status: status) else { continue }
                    status = aggregate
                }
                let advance = status == .failed ? (current.status == .queued || current.status == .sent) : status.rank > current.status.rank
                guard advance, current.status != .failed else { continue }
                try db.execute(sql: "UPDATE messages SET status = ?, failureReason = ? WHERE localID = ?", arguments: [status.rawValue, reason, current.localID])
                var updated = current
                updated.status = status
                updated.failureReason = reason
                changed.append(updated)
            }
            return changed
        }
    }

    /// Puts a failed message back in the outbox under the same id.
    public func retry(localID: Int64) throws -> MessageRecord? {
        try pool.write { db in
            guard let message = try Self.message(db, localID: localID), message.status == .failed, message.isOutgoing else { return nil }
            try db.execute(sql: "UPDATE messages SET status = 'queued', failureReason = NULL WHERE localID = ?", arguments: [localID])
            let group = Self.groupName(ofChat: message.to)
            try db.execute(sql: "INSERT OR IGNORE INTO outbox (kind, id, recipient, payload) VALUES (?, ?, ?, ?)",
                           arguments: [group == nil ? "message" : "group", message.id, message.to,
                                       MessageContent.written(message.text, group: group, replyTo: message.replyTo).encoded])
            return try Self.message(db, localID: localID)
        }
    }

    /// Deletes a failed message from the history.
    public func deleteFailed(localID: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM messages WHERE localID = ? AND status = 'failed'", arguments: [localID])
            return db.changesCount > 0
        }
    }

    // MARK: Incoming

    /// A message as it arrives from the relay (or from an import or a benchmark's seed).
    public struct Incoming: Sendable {
        public var id: String
        public var from: String
        public var text: String
        public var sentAt: Date

        public init(id: String, from: String, text: String, sentAt: Date) {
            self.id = id
            self.from = from
            self.text = text
            self.sentAt = sentAt
        }
    }

    /// Commits incoming messages, ignoring ones already stored (redeliveries). Returns the new ones.
    public func storeIncoming(_ items: [Incoming], me: String) throws -> [MessageRecord] {
        try pool.write { db in
            var added: [MessageRecord] = []
            for item in items {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO messages (id, chat, sender, recipient, text, status, sentAt) VALUES (?, ?, ?, ?, ?, 'received', ?)",
                    arguments: [item.id, item.from, item.from, me, item.text, Self.millis(item.sentAt)])
                guard db.changesCount > 0 else { continue }
                let localID = db.lastInsertedRowID
                try Self.touchChat(db, item.from, at: item.sentAt, unreadDelta: 1)
                added.append(MessageRecord(localID: localID, id: item.id, chat: item.from, from: item.from, to: me, text: item.text, status: .received, failureReason: nil, sentAt: item.sentAt))
            }
            return added
        }
    }

    /// Marks a chat read; returns the ids to report in a read receipt (and queues it) when `report` is set.
    func markRead(chat: String, report: Bool, receiptID: String) throws -> [String] {
        try pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, sender FROM messages WHERE chat = ? AND status = 'received' AND readReported = 0 AND sender <> ? ORDER BY localID",
                                        arguments: [chat, Self.systemSender])
            let ids: [String] = rows.map { $0[0] }
            try db.execute(sql: "UPDATE messages SET readReported = 1 WHERE chat = ? AND status = 'received' AND readReported = 0", arguments: [chat])
            try db.execute(sql: "UPDATE chats SET unread = 0 WHERE name = ?", arguments: [chat])
            if report, !ids.isEmpty {
                // A receipt goes to each message's sender (in a group, several people).
                var senders: [String] = []
                var bySender: [String: [String]] = [:]
                for row in rows {
                    let sender: String = row[1]
                    if bySender[sender] == nil { senders.append(sender) }
                    bySender[sender, default: []].append(row[0])
                }
                for (index, sender) in senders.enumerated() {
                    let senderIDs = bySender[sender]!
                    for chunk in stride(from: 0, to: senderIDs.count, by: 1000).map({ Array(senderIDs[$0..<min($0 + 1000, senderIDs.count)]) }) {
                        let payload = Data(chunk.joined(separator: "\n").utf8)
                        let id = chunk.count == ids.count ? receiptID : receiptID + "-\(index)-\(chunk.count)-\(chunk[0].prefix(8))"
                        try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('read', ?, ?, ?)", arguments: [String(id.prefix(64)), sender, payload])
                    }
                }
            }
            return ids
        }
    }

    // MARK: Queries

    /// Chats for the list: pinned first, then by last activity. A closed chat is left out
    /// until something new happens in it.
    public func chats() throws -> [ChatSummary] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.name, c.unread, c.lastActivity,
                       (SELECT CASE WHEN m.deleted IS NULL THEN text ELSE '(deleted)' END FROM messages m WHERE m.chat = c.name AND m.deleted IS NOT 'me' ORDER BY localID DESC LIMIT 1),
                       ifnull(s.pinned, 0), ifnull(s.muted, 0), g.invitedBy, s.timer
                FROM chats c LEFT JOIN chat_settings s ON s.chat = c.name LEFT JOIN groups g ON '#' || g.name = c.name
                WHERE s.closedAt IS NULL OR c.lastActivity > s.closedAt
                ORDER BY ifnull(s.pinned, 0) DESC, c.lastActivity DESC, c.name
                """).map { ChatSummary(name: $0[0], unread: $0[1], lastActivity: Self.date($0[2]), lastMessage: $0[3], pinned: $0[4], muted: $0[5],
                                       invitedBy: $0[6], timer: $0[7]) }
        }
    }

    /// A page of one chat's history, oldest first, ending before `beforeLocalID` when given.
    public func history(chat: String, limit: Int, before beforeLocalID: Int64? = nil) throws -> [MessageRecord] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.columns) FROM messages WHERE chat = ? AND localID < ? AND deleted IS NOT 'me' ORDER BY localID DESC LIMIT ?
                """, arguments: [chat, beforeLocalID ?? Int64.max, limit])
            return rows.map(Self.record).reversed()
        }
    }

    /// Full-text search over all history, newest first. Every word matches as a prefix
    /// ("deplo" finds "deploy"), as people expect of a search box.
    public func search(_ text: String, limit: Int = 100) throws -> [MessageRecord] {
        let terms = text.split(whereSeparator: \.isWhitespace).map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"*" }
        guard !terms.isEmpty else { return [] }
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.columns) FROM messages WHERE localID IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)
                ORDER BY localID DESC LIMIT ?
                """, arguments: [terms.joined(separator: " "), limit]).map(Self.record)
        }
    }

    public func message(localID: Int64) throws -> MessageRecord? {
        try pool.read { try Self.message($0, localID: localID) }
    }

    public func message(sender: String, id: String) throws -> MessageRecord? {
        try pool.read { try Self.message($0, sender: sender, id: id) }
    }

    /// One of our own messages by id.
    public func message(id: String) throws -> MessageRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM messages WHERE id = ? AND status <> 'received'", arguments: [id]).map(Self.record) }
    }

    public func allMessages() throws -> [MessageRecord] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM messages ORDER BY localID").map(Self.record) }
    }

    // MARK: Helpers

    static let columns = "localID, id, chat, sender, recipient, text, status, failureReason, sentAt, replyTo, editedAt, deleted, expiresAt, " + attachmentColumn

    static func record(_ row: Row) -> MessageRecord {
        MessageRecord(
            localID: row[0], id: row[1], chat: row[2], from: row[3], to: row[4], text: row[5],
            status: MessageStatus(rawValue: row[6]) ?? .failed, failureReason: row[7], sentAt: date(row[8]), replyTo: row[9],
            editedAt: (row[10] as Int64?).map(date), deleted: (row[11] as String?).flatMap(MessageDeletion.init(rawValue:)),
            expiresAt: (row[12] as Int64?).map(date), attachment: attachment(fromJSON: row[13]))
    }

    /// A message of `chat` by id, whoever wrote it.
    public func message(inChat chat: String, id: String) throws -> MessageRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM messages WHERE chat = ? AND id = ?", arguments: [chat, id]).map(Self.record) }
    }

    static func message(_ db: Database, sender: String, id: String) throws -> MessageRecord? {
        // Prepared once per connection: it runs for every incoming message.
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT \(columns) FROM messages WHERE sender = ? AND id = ?"), arguments: [sender, id]).map(record)
    }

    private static func message(_ db: Database, localID: Int64) throws -> MessageRecord? {
        try Row.fetchOne(db, sql: "SELECT \(columns) FROM messages WHERE localID = ?", arguments: [localID]).map(record)
    }

    static func touchChat(_ db: Database, _ name: String, at date: Date, unreadDelta: Int) throws {
        try db.cachedStatement(sql: """
            INSERT INTO chats (name, unread, lastActivity) VALUES (?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET unread = unread + excluded.unread, lastActivity = max(lastActivity, excluded.lastActivity)
            """).execute(arguments: [name, unreadDelta, millis(date)])
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
