import Foundation
import GRDB
import ParlaProtocol

/// Where an attachment stands on this side.
public enum AttachmentState: String, Sendable, Codable {
    /// Ours, encrypted in the profile, not (fully) on the relay yet; its message waits.
    case uploading
    /// Ours, on the relay; its message went into the outbox.
    case uploaded
    /// Theirs, announced, not (fully) downloaded yet.
    case pending
    /// Theirs, downloaded, checked and kept in the profile.
    case downloaded
    /// Could not be sent or downloaded (`failure` says why).
    case failed
}

/// A file sent with a message (issue 22).
public struct Attachment: Sendable, Equatable {
    public var blob: String
    public var name: String
    public var size: Int
    public var sha256: String
    public var state: AttachmentState
    /// Where the file is on this computer: where `save` last put it, else what was sent or
    /// the downloaded copy in the profile.
    public var savedPath: String?
    public var failure: String?
    /// What `save` copies: the file that was sent, or the downloaded copy in the profile.
    public var localPath: String?
    /// A text too long for one message, carried as this file (shown as the text, not as a file).
    public var longText = false

    public init(blob: String, name: String, size: Int, sha256: String, state: AttachmentState, savedPath: String? = nil, failure: String? = nil,
                localPath: String? = nil, longText: Bool = false) {
        self.blob = blob
        self.name = name
        self.size = size
        self.sha256 = sha256
        self.state = state
        self.savedPath = savedPath
        self.failure = failure
        self.localPath = localPath
        self.longText = longText
    }
}

/// Attachments in the profile database: one row per file, beside its message.
extension ClientStore {
    static func registerAttachmentMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v15-attachments") { db in
            try db.execute(sql: """
                CREATE TABLE attachments (
                    blob TEXT PRIMARY KEY,
                    sender TEXT NOT NULL, messageID TEXT NOT NULL, chat TEXT NOT NULL,
                    name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, key BLOB NOT NULL,
                    state TEXT NOT NULL, recipients TEXT, groupName TEXT, replyTo TEXT, caption TEXT,
                    longText INTEGER NOT NULL DEFAULT 0,
                    spoolPath TEXT, localPath TEXT, savedPath TEXT, failure TEXT,
                    UNIQUE (sender, messageID)
                );
                """)
        }
    }

    /// The attachment columns `record` reads: one JSON array, or NULL for a message without a file.
    static let attachmentColumn = """
        (SELECT json_array(a.blob, a.name, a.size, a.sha256, a.state, ifnull(a.savedPath, a.localPath), a.failure, a.longText, a.localPath) FROM attachments a
         WHERE a.sender = messages.sender AND a.messageID = messages.id)
        """

    static func attachment(fromJSON json: String?) -> Attachment? {
        guard let json, let values = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any], values.count == 9,
              let blob = values[0] as? String, let name = values[1] as? String, let size = values[2] as? Int, let sha256 = values[3] as? String,
              let state = (values[4] as? String).flatMap(AttachmentState.init(rawValue:))
        else { return nil }
        return Attachment(blob: blob, name: name, size: size, sha256: sha256, state: state, savedPath: values[5] as? String, failure: values[6] as? String,
                          localPath: values[8] as? String, longText: (values[7] as? Int) == 1)
    }

    /// Everything the engine needs to move one file.
    struct Transfer: Sendable {
        var blob: String
        var sender: String
        var messageID: String
        var chat: String
        var name: String
        var size: Int
        var sha256: String
        var key: Data
        var state: AttachmentState
        var recipients: [String]
        var spoolPath: String?
        var longText: Bool
        var chunks: Int { BlobLimits.sealedLayout(plaintextBytes: size).chunks }
    }

    private static func transfer(_ row: Row) -> Transfer {
        let recipients = (row["recipients"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        return Transfer(blob: row["blob"], sender: row["sender"], messageID: row["messageID"], chat: row["chat"], name: row["name"], size: row["size"],
                        sha256: row["sha256"], key: row["key"], state: AttachmentState(rawValue: row["state"]) ?? .failed, recipients: recipients,
                        spoolPath: row["spoolPath"], longText: row["longText"])
    }

    /// Files still to upload (ours) or download (theirs), oldest first.
    func pendingTransfers() throws -> [Transfer] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attachments WHERE state IN ('uploading', 'pending') ORDER BY rowid").map(Self.transfer)
        }
    }

    func transfer(blob: String) throws -> Transfer? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM attachments WHERE blob = ?", arguments: [blob]).map(Self.transfer) }
    }

    /// The attachment of message `id` of `chat`, whoever sent it.
    func transfer(messageID id: String, chat: String) throws -> Transfer? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM attachments WHERE messageID = ? AND chat = ?", arguments: [id, chat]).map(Self.transfer)
        }
    }

    /// Our file message: stored with its encrypted copy's path; it goes into the outbox once uploaded.
    func enqueueFileMessage(id: String, from me: String, chat: String, text: String, offer: FileOffer, group: GroupState?, recipients: [String],
                            spoolPath: String, originalPath: String?, longText: Bool, replyTo: String?, at date: Date) throws -> MessageRecord {
        try pool.write { db in
            let expiresAt = try Self.expiry(db, chat: chat, from: date)
            try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, replyTo, expiresAt) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                           arguments: [id, chat, me, chat, text, Self.millis(date), replyTo, expiresAt])
            try db.execute(sql: """
                INSERT INTO attachments (blob, sender, messageID, chat, name, size, sha256, key, state, recipients, groupName, replyTo, caption, longText, spoolPath, localPath)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'uploading', ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [offer.blob, me, id, chat, offer.name, offer.size, offer.sha256, offer.key,
                                 String(decoding: try JSONEncoder().encode(recipients), as: UTF8.self), group?.name, replyTo, offer.caption, longText,
                                 spoolPath, originalPath])
            try Self.touchChat(db, chat, at: date, unreadDelta: 0)
            return try Self.message(db, sender: me, id: id)!
        }
    }

    /// Our upload is complete: the message announcing it goes into the outbox (for the group's
    /// members at upload, who are the ones the relay lets download it).
    func uploadFinished(blob: String) throws -> MessageRecord? {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM attachments WHERE blob = ? AND state = 'uploading'", arguments: [blob]) else { return nil }
            let item = Self.transfer(row)
            let group: String? = row["groupName"]
            let offer = FileOffer(blob: item.blob, name: item.name, size: item.size, sha256: item.sha256, key: item.key, caption: row["caption"],
                                  longText: item.longText ? true : nil)
            let payload = MessageContent.file(offer, group: group, replyTo: row["replyTo"]).encoded
            if group != nil {
                try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('group', ?, ?, ?)", arguments: [item.messageID, item.chat, payload])
                try Self.setRecipients(db, id: item.messageID, item.recipients)
            } else {
                try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('message', ?, ?, ?)", arguments: [item.messageID, item.chat, payload])
            }
            try db.execute(sql: "UPDATE attachments SET state = 'uploaded', spoolPath = NULL WHERE blob = ?", arguments: [blob])
            return try Self.message(db, sender: item.sender, id: item.messageID)
        }
    }

    /// The file could not be sent or fetched: said on the attachment, and (ours) on the message.
    func transferFailed(blob: String, reason: String) throws -> MessageRecord? {
        try pool.write { db in
            guard let item = try Row.fetchOne(db, sql: "SELECT * FROM attachments WHERE blob = ?", arguments: [blob]).map(Self.transfer) else { return nil }
            try db.execute(sql: "UPDATE attachments SET state = 'failed', failure = ?, spoolPath = NULL WHERE blob = ?", arguments: [reason, blob])
            if item.state == .uploading {
                try db.execute(sql: "UPDATE messages SET status = 'failed', failureReason = ? WHERE sender = ? AND id = ?",
                               arguments: [reason, item.sender, item.messageID])
            }
            return try Self.message(db, sender: item.sender, id: item.messageID)
        }
    }

    /// A download is complete and checked: kept at `path`; a long text becomes the message's text.
    func downloadFinished(blob: String, path: String, longText: String?) throws -> MessageRecord? {
        try pool.write { db in
            guard let item = try Row.fetchOne(db, sql: "SELECT * FROM attachments WHERE blob = ?", arguments: [blob]).map(Self.transfer) else { return nil }
            try db.execute(sql: "UPDATE attachments SET state = 'downloaded', localPath = ? WHERE blob = ?", arguments: [path, blob])
            if let longText {
                try db.execute(sql: "UPDATE messages SET text = ? WHERE sender = ? AND id = ? AND deleted IS NULL", arguments: [longText, item.sender, item.messageID])
            }
            return try Self.message(db, sender: item.sender, id: item.messageID)
        }
    }

    /// `save` put a copy at `path`.
    func setSavedPath(blob: String, _ path: String) throws {
        try pool.write { try $0.execute(sql: "UPDATE attachments SET savedPath = ? WHERE blob = ?", arguments: [path, blob]) }
    }

    /// The message of this file was deleted or disappeared: a received copy in the profile is
    /// deleted with it, a download or upload still to come never happens. What the user saved
    /// elsewhere, and a file they sent from their own folders, are theirs and stay.
    static func forgetAttachment(_ db: Database, of message: MessageRecord) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM attachments WHERE sender = ? AND messageID = ?", arguments: [message.from, message.id]) else { return }
        let item = transfer(row)
        if message.status == .received, let copy = row["localPath"] as String? {
            try? FileManager.default.removeItem(atPath: (copy as NSString).deletingLastPathComponent)
        }
        if let spool = item.spoolPath { try? FileManager.default.removeItem(atPath: spool) }
        try db.execute(sql: """
            UPDATE attachments SET state = CASE WHEN state IN ('uploading', 'pending') THEN 'failed' ELSE state END,
                failure = ifnull(failure, 'deleted'), spoolPath = NULL, localPath = CASE WHEN ? THEN NULL ELSE localPath END
            WHERE blob = ?
            """, arguments: [message.status == .received, item.blob])
    }

    /// A file announced by `sender`: stored with its message, to be downloaded.
    static func insertFileOffer(_ db: Database, _ offer: FileOffer, sender: String, messageID: String, chat: String) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO attachments (blob, sender, messageID, chat, name, size, sha256, key, state, longText)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
            """, arguments: [offer.blob, sender, messageID, chat, FileOffer.safeName(offer.name), offer.size, offer.sha256, offer.key, offer.longText == true])
    }
}

/// Sizes as people read them: "812 B", "4.0 KiB", "2.4 MiB".
public enum ByteSize {
    public static func describe(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }
}
