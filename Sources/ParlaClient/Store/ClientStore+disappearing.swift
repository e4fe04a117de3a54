import Foundation
import GRDB

/// Disappearing messages (issue 22): a chat's timer, the same on both sides (changed by a
/// message inside the encryption), after which its messages leave this history. A sent
/// message's time starts when it is written; a received one's when it arrives, so someone
/// offline for a day still gets the whole time to read it.
extension ClientStore {
    static func registerDisappearingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v14-disappearing") { db in
            try db.execute(sql: """
                ALTER TABLE chat_settings ADD COLUMN timer INTEGER;
                ALTER TABLE messages ADD COLUMN expiresAt INTEGER;
                CREATE INDEX messages_by_expiry ON messages(expiresAt) WHERE expiresAt IS NOT NULL;
                """)
        }
    }

    /// The chat's timer in seconds (nil: messages stay).
    public func timer(ofChat chat: String) throws -> Int? {
        try pool.read { try Self.timer($0, chat) }
    }

    static func timer(_ db: Database, _ chat: String) throws -> Int? {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT timer FROM chat_settings WHERE chat = ?"), arguments: [chat])
    }

    /// When a message written now in `chat` disappears (nil: never).
    static func expiry(_ db: Database, chat: String, from date: Date) throws -> Int64? {
        try timer(db, chat).map { millis(date) + Int64($0) * 1000 }
    }

    private static func setTimer(_ db: Database, _ chat: String, _ seconds: Int?) throws {
        try db.execute(sql: """
            INSERT INTO chat_settings (chat, timer) VALUES (?, ?)
            ON CONFLICT(chat) DO UPDATE SET timer = excluded.timer
            """, arguments: [chat, seconds])
    }

    static func timerNotice(by who: String, _ seconds: Int?) -> String {
        seconds.map { "\(who) set disappearing messages to \(DisappearingTimer.describe($0)): new messages disappear that long after they are sent or received" }
            ?? "\(who) turned off disappearing messages"
    }

    /// Our own change of the chat's timer: set here, said in the chat, queued for the other side.
    func enqueueTimer(_ seconds: Int?, chat: String, me: String, group: GroupState?, at date: Date) throws -> MessageRecord {
        try pool.write { db in
            try Self.setTimer(db, chat, seconds)
            try Self.enqueueChatControl(db, .timer(seconds: seconds, group: group?.name), chat: chat, me: me, group: group)
            return try Self.insertNotice(db, chat: chat, text: Self.timerNotice(by: "You", seconds), me: me, at: date)
        }
    }

    /// A timer change that arrived: only from someone in the chat (the other side, a member).
    static func receiveTimer(_ db: Database, _ seconds: Int?, from sender: String, chat: String, me: String, at date: Date) throws -> MessageRecord? {
        if let group = groupName(ofChat: chat) {
            guard try self.group(db, group)?.members.contains(sender) == true else { return nil }
        } else if chat != sender {
            return nil
        }
        if let seconds, !(DisappearingTimer.shortest...DisappearingTimer.longest).contains(seconds) { return nil }
        guard try timer(db, chat) != seconds else { return nil }
        try setTimer(db, chat, seconds)
        return try insertNotice(db, chat: chat, text: timerNotice(by: sender, seconds), me: me, at: date)
    }

    /// Empties and hides every message whose time is up; returns them as they are now.
    func removeExpired(at date: Date) throws -> [MessageRecord] {
        try pool.write { db in
            let now = Int64((date.timeIntervalSince1970 * 1000).rounded(.up))
            let due = try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM messages WHERE expiresAt <= ? AND deleted IS NOT 'me'",
                                       arguments: [now]).map(Self.record)
            for message in due {
                try db.execute(sql: "UPDATE messages SET text = '', deleted = 'me' WHERE localID = ?", arguments: [message.localID])
                try db.execute(sql: "DELETE FROM reactions WHERE chat = ? AND messageID = ?", arguments: [message.chat, message.id])
                try Self.forgetAttachment(db, of: message)
            }
            return due.map { message in
                var gone = message
                gone.text = ""
                gone.deleted = .me
                return gone
            }
        }
    }

    /// When the next message disappears (nil: none will).
    func nextExpiry() throws -> Date? {
        try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT min(expiresAt) FROM messages WHERE expiresAt IS NOT NULL AND deleted IS NOT 'me'").map(Self.date)
        }
    }
}
