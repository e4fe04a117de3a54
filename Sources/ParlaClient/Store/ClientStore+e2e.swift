import Foundation
import GRDB
import ParlaCrypto
import ParlaProtocol

/// End-to-end encryption state: our prekeys (private halves), one Double Ratchet
/// session per contact, and the identity keys pinned on first use.
extension ClientStore {
    /// The sender shown for Parla's own notices in a chat (not a valid user name, so never a person).
    public static let systemSender = "*"

    static func registerEndToEndMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-e2e") { db in
            try db.execute(sql: """
                ALTER TABLE outbox ADD COLUMN envelope BLOB;
                CREATE TABLE own_signed_prekeys (id INTEGER PRIMARY KEY, record BLOB NOT NULL, createdAt INTEGER NOT NULL);
                CREATE TABLE own_one_time_prekeys (id INTEGER PRIMARY KEY, record BLOB NOT NULL);
                CREATE TABLE sessions (peer TEXT PRIMARY KEY, record BLOB NOT NULL, updatedAt INTEGER NOT NULL);
                CREATE TABLE contacts (
                    name TEXT PRIMARY KEY,
                    signingKey BLOB NOT NULL,
                    agreementKey BLOB NOT NULL,
                    verified INTEGER NOT NULL DEFAULT 0,
                    pinnedAt INTEGER NOT NULL
                );
                """)
        }
    }

    // MARK: Own prekeys

    /// The newest signed prekey, if any.
    func currentSignedPreKey() throws -> SignedPreKey? {
        try pool.read { db in
            try Data.fetchOne(db, sql: "SELECT record FROM own_signed_prekeys ORDER BY createdAt DESC, id DESC LIMIT 1").map(Self.decode)
        }
    }

    static func registerResendMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-resend") { db in
            // Marks a received message whose text is only the "could not decrypt" notice, until a resent copy fills it in.
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN undecryptable INTEGER NOT NULL DEFAULT 0")
        }
    }

    func hasOwnSignedPreKey(id: UInt32) throws -> Bool {
        try pool.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM own_signed_prekeys WHERE id = ?)", arguments: [Int64(id)]) ?? false }
    }

    /// Stores new prekeys' private halves (before they are published, so no reply can find them missing).
    func saveOwnPrekeys(signed: SignedPreKey?, oneTime: [OneTimePreKey]) throws {
        try pool.write { db in
            if let signed {
                try db.execute(sql: "INSERT OR REPLACE INTO own_signed_prekeys (id, record, createdAt) VALUES (?, ?, ?)",
                               arguments: [Int64(signed.id), try Self.encode(signed), Self.millis(signed.createdAt)])
                // Old signed prekeys are kept a while for messages still on the way, then forgotten.
                try db.execute(sql: "DELETE FROM own_signed_prekeys WHERE id NOT IN (SELECT id FROM own_signed_prekeys ORDER BY createdAt DESC, id DESC LIMIT 3)")
            }
            for key in oneTime {
                try db.execute(sql: "INSERT OR REPLACE INTO own_one_time_prekeys (id, record) VALUES (?, ?)", arguments: [Int64(key.id), try Self.encode(key)])
            }
        }
    }

    /// A fresh range of prekey ids (never reused, so a stale bundle cannot name a newer key).
    func allocatePrekeyIDs(_ count: Int) throws -> ClosedRange<UInt32> {
        try pool.write { db in
            let next = UInt32(try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'nextPrekeyID'").flatMap { UInt32($0) } ?? 1)
            try db.execute(sql: "INSERT OR REPLACE INTO settings (key, value) VALUES ('nextPrekeyID', ?)", arguments: [String(next + UInt32(count))])
            return next...(next + UInt32(count) - 1)
        }
    }

    // MARK: Sessions

    struct Session: Codable, Sendable {
        var ratchet: DoubleRatchet
        /// Attached to every message until the contact answers, so they can start the session from any of them.
        var preKey: Envelope.PreKeyPart?
        /// The ephemeral key of the prekey message that started a session we answer; a repeat of it is not a new session.
        var remoteEphemeral: Data?
    }

    /// A contact's sessions: the one used for sending and a few earlier ones still able to
    /// decrypt (both sides may start a session at the same moment, and messages sealed
    /// before a switch are still on their way).
    struct SessionSet: Codable, Sendable {
        var current: Session?
        var archived: [Session] = []
        static let keptArchived = 4

        var all: [Session] { (current.map { [$0] } ?? []) + archived }

        /// Stops sending on the current session (it is kept for decrypting), so the next message starts a new one.
        mutating func retireCurrent() {
            guard let current else { return }
            archived.insert(current, at: 0)
            archived = Array(archived.prefix(Self.keptArchived))
            self.current = nil
        }

        /// Makes `session` the one used for sending; the previous one is kept for decrypting.
        mutating func promote(_ session: Session, replacingArchivedAt index: Int? = nil) {
            if let index { archived.remove(at: index) }
            if let current { archived.insert(current, at: 0) }
            archived = Array(archived.prefix(Self.keptArchived))
            current = session
        }
    }

    func session(with peer: String) throws -> Session? {
        try pool.read { db in try Self.sessions(db, peer).current }
    }

    static func sessions(_ db: Database, _ peer: String) throws -> SessionSet {
        guard let data = try Data.fetchOne(try db.cachedStatement(sql: "SELECT record FROM sessions WHERE peer = ?"), arguments: [peer]) else { return SessionSet() }
        if let set = try? JSONDecoder().decode(SessionSet.self, from: data) { return set }
        return SessionSet(current: try decode(data))
    }

    static func saveSessions(_ db: Database, _ peer: String, _ set: SessionSet) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO sessions (peer, record, updatedAt) VALUES (?, ?, ?)")
            .execute(arguments: [peer, try encode(set), millis(Date())])
    }

    struct SessionGone: Error {}

    /// A verified contact's key changed and the user has not approved the new one.
    struct KeyChangeUnapproved: Error, CustomStringConvertible {
        let peer: String
        var description: String {
            "\(peer)'s security key changed since you verified it: compare safety numbers (/verify \(peer)), approve with "
                + "'/verify \(peer) yes' (or 'parla verify \(peer) --mark'), then /retry"
        }
    }

    /// Where a sealed envelope goes: a direct message's outbox row, or one member's copy of a group message.
    enum SealTarget: Sendable {
        case direct(outboxID: String)
        case groupCopy(outboxID: String, member: String)
    }

    /// Takes the next ratchet step for `peer` and stores the envelope in one write transaction:
    /// the session is read, stepped and written back while no other connection (another
    /// `parla` process on this profile) can write, so no step is ever taken twice, and a crash
    /// leaves either both or neither. `fresh` is a session just started from the peer's bundle,
    /// used only if there is still none. An envelope stored meanwhile by another process is
    /// returned as it is (no second step). Nil: the outbox item is gone (sent and acknowledged).
    func sealAndCommit(_ payload: Data, for peer: String, startingWith fresh: Session?, into target: SealTarget) throws -> Data? {
        try pool.write { db in
            let outboxID: String
            switch target {
            case .direct(let id): outboxID = id
            case .groupCopy(let id, _): outboxID = id
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT envelope, kind FROM outbox WHERE id = ?", arguments: [outboxID]) else { return nil }
            let stored: Data? = row[0]
            let kind: String = row[1]
            switch target {
            case .direct:
                if let stored { return stored }
            case .groupCopy(_, let member):
                if let copy = try Self.groupCopies(db, outboxID)[member] { return copy }
            }
            // One read of the contact: whether sending is blocked, and the key this copy is for.
            let contact = try Row.fetchOne(db.cachedStatement(sql: "SELECT signingKey, sendingBlocked FROM contacts WHERE name = ?"), arguments: [peer])
            if contact?["sendingBlocked"] == true { throw KeyChangeUnapproved(peer: peer) }
            // No session and none just started: another process retired it meanwhile; the next flush starts one.
            guard var session = try Self.sessions(db, peer).current ?? fresh else { throw SessionGone() }
            let (header, ciphertext) = try session.ratchet.encrypt(Padding.pad(payload))
            let envelope = Envelope(preKey: session.preKey, header: header, ciphertext: ciphertext).encoded
            try Self.storeSendingSession(db, peer, session)
            // Which identity this copy of a message is for: only that identity may ask for it again.
            if kind == OutboxItem.Kind.message.rawValue || kind == OutboxItem.Kind.group.rawValue, let key: Data = contact?["signingKey"] {
                try Self.recordSealed(db, id: outboxID, for: peer, key: key)
            }
            switch target {
            case .direct:
                try db.execute(sql: "UPDATE outbox SET envelope = ? WHERE id = ?", arguments: [envelope, outboxID])
            case .groupCopy(_, let member):
                var copies = try Self.groupCopies(db, outboxID)
                copies[member] = envelope
                try db.execute(sql: "UPDATE outbox SET envelope = ? WHERE id = ?", arguments: [try Self.encode(copies), outboxID])
            }
            return envelope
        }
    }

    /// After sealing: the session just stepped stays the one used for sending (a new one replaces the current).
    static func storeSendingSession(_ db: Database, _ peer: String, _ session: Session) throws {
        var set = try sessions(db, peer)
        if set.current?.ratchet.associatedData == session.ratchet.associatedData, set.current?.preKey == session.preKey {
            set.current = session
        } else {
            set.promote(session)
        }
        try saveSessions(db, peer, set)
    }

    // MARK: Contacts (identity keys pinned on first use)

    public struct Contact: Sendable, Equatable {
        public var name: String
        public var signingKey: Data
        public var agreementKey: Data
        public var verified: Bool
    }

    public func contact(_ name: String) throws -> Contact? {
        try pool.read { db in try Self.contact(db, name) }
    }

    static func contact(_ db: Database, _ name: String) throws -> Contact? {
        try Row.fetchOne(db, sql: "SELECT name, signingKey, agreementKey, verified FROM contacts WHERE name = ?", arguments: [name])
            .map { Contact(name: $0[0], signingKey: $0[1], agreementKey: $0[2], verified: $0[3]) }
    }

    public func verifiedContacts() throws -> Set<String> {
        try pool.read { db in Set(try String.fetchAll(db, sql: "SELECT name FROM contacts WHERE verified = 1")) }
    }

    public func setVerified(_ name: String, _ verified: Bool) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE contacts SET verified = ? WHERE name = ?", arguments: [verified, name])
            return db.changesCount > 0
        }
    }

    /// Marks `name` verified (the user compared safety numbers) and sends what they asked for
    /// again under this key while it was unapproved; how many copies that queued.
    func approve(_ name: String, me: String) throws -> (marked: Bool, released: Int) {
        try pool.write { db in
            try db.execute(sql: "UPDATE contacts SET verified = 1, sendingBlocked = 0 WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { return (false, 0) }
            return (true, try Self.releaseHeldResends(db, peer: name, me: me))
        }
    }

    /// Pins `name`'s identity keys the first time; when they differ from the pinned ones, re-pins,
    /// clears "verified" and writes a notice into the chat. Returns that notice, if any.
    static func pin(_ db: Database, name: String, signingKey: Data, agreementKey: Data, me: String, at date: Date) throws -> MessageRecord? {
        if let pinned = try contact(db, name) {
            if pinned.signingKey == signingKey, pinned.agreementKey == agreementKey { return nil }
            // A contact the user had verified: nothing more is sent to the new key until they approve it.
            try db.execute(sql: "UPDATE contacts SET signingKey = ?, agreementKey = ?, verified = 0, pinnedAt = ?, sendingBlocked = ? WHERE name = ?",
                           arguments: [signingKey, agreementKey, millis(date), pinned.verified, name])
            try db.execute(sql: "DELETE FROM sessions WHERE peer = ?", arguments: [name])
            var text = "⚠ \(name)'s security key changed: they reinstalled Parla, or someone is intercepting. "
                + "Compare safety numbers with 'parla verify \(name)' or /verify \(name)."
            if pinned.verified { text += " You had verified \(name): nothing is sent to the new key until you approve it (/verify \(name) yes)." }
            return try insertNotice(db, chat: name, text: text, me: me, at: date)
        }
        try db.execute(sql: "INSERT INTO contacts (name, signingKey, agreementKey, verified, pinnedAt) VALUES (?, ?, ?, 0, ?)",
                       arguments: [name, signingKey, agreementKey, millis(date)])
        return nil
    }

    func pin(name: String, signingKey: Data, agreementKey: Data, me: String) throws -> MessageRecord? {
        try pool.write { db in try Self.pin(db, name: name, signingKey: signingKey, agreementKey: agreementKey, me: me, at: Date()) }
    }

    static func insertNotice(_ db: Database, chat: String, text: String, me: String, at date: Date,
                             id: String = "notice-" + UUID().uuidString.lowercased()) throws -> MessageRecord {
        try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, readReported) VALUES (?, ?, ?, ?, ?, 'received', ?, 1)",
                       arguments: [id, chat, systemSender, me, text, millis(date)])
        let localID = db.lastInsertedRowID
        try touchChat(db, chat, at: date, unreadDelta: 1)
        return MessageRecord(localID: localID, id: id, chat: chat, from: systemSender, to: me, text: text, status: .received, failureReason: nil, sentAt: date)
    }

    // MARK: Incoming, decrypted in the same transaction that stores them

    struct EncryptedIncoming: Sendable {
        var id: String
        var from: String
        var body: Data
        var sentAt: Date
        /// The group the relay says this copy was sent to (checked against the encrypted content).
        var group: String? = nil
    }

    /// What one batch of incoming messages changed.
    struct ReceivedBatch: Sendable {
        var added: [MessageRecord] = []
        /// Messages that could not be decrypted before and now hold the copy their sender resent.
        var updated: [MessageRecord] = []
        /// Resend requests or resent copies were queued: the outbox needs a flush.
        var queuedControl = false
        /// New unread messages per chat and the latest one's time: each chat row is written
        /// once per batch, not once per message.
        fileprivate(set) var chatActivity: [String: (unread: Int, latest: Date)] = [:]
        /// When the batch arrived: a disappearing message's time starts then.
        var receivedAt = Date()
        /// Chats' timers, read once per batch (and changed by a timer message in it).
        fileprivate var timers: [String: Int?] = [:]
        /// Some message of the batch will disappear: the engine's sweep must look again.
        var disappears = false
        /// Some message of the batch announced a file: the engine downloads it.
        var filesArrived = false

        fileprivate mutating func expiry(_ db: Database, chat: String) throws -> Int64? {
            let timer = try timers[chat] ?? ClientStore.timer(db, chat)
            timers[chat] = timer
            guard let timer else { return nil }
            disappears = true
            return ClientStore.millis(receivedAt) + Int64(timer) * 1000
        }

        fileprivate mutating func noteActivity(in chat: String, at date: Date) {
            let previous = chatActivity[chat]
            chatActivity[chat] = ((previous?.unread ?? 0) + 1, max(previous?.latest ?? date, date))
        }
    }

    /// Decrypts and stores a batch in one transaction: ratchet states, consumed one-time
    /// prekeys and the messages are committed together before anything is confirmed, so a
    /// crash leaves the old state and the redelivered messages decrypt again. A message
    /// that cannot be decrypted is stored as a notice saying why, and never blocks the rest;
    /// when a new session could help (the sender's session is one we lost or that broke),
    /// the sender is asked, over a fresh session, to send it again.
    func receiveEncrypted(_ items: [EncryptedIncoming], me: String, identity: IdentityKeys, at now: Date = Date()) throws -> ReceivedBatch {
        try pool.write { db in try Self.deferringSearchIndex(db, switch: searchIndex) { indexPending in
            var batch = ReceivedBatch()
            batch.receivedAt = now
            // Each sender's sessions are read once and written once per batch, not per message.
            var sessionCache: [String: SessionSet] = [:]
            var unreadable: [String: [String]] = [:]
            var seen = try Self.alreadyStored(db, items)
            for item in items {
                // Already stored (a redelivery after a crash before confirm), or twice in this batch: nothing to decrypt again.
                guard seen.insert(MessageKey(sender: item.from, id: item.id)).inserted else { continue }
                let content: MessageContent
                do {
                    let (plaintext, notice) = try Self.decrypt(db, item, me: me, identity: identity, sessions: &sessionCache)
                    if let notice { batch.added.append(notice) }
                    guard let decoded = MessageContent(decoding: plaintext) else { continue }
                    content = decoded
                } catch let error as E2EError {
                    var text = "⚠ could not decrypt this message: \(error.description)"
                    // A message that claims another identity than the one pinned and does not decrypt is
                    // someone else's doing (a forgery under this name): it must not cost the real
                    // contact's session, nor make us ask them for anything.
                    if try Self.claimsAnotherIdentity(db, item) {
                        text += " (it claimed a security key \(item.from) does not have; ignored)"
                    } else if error.isCuredByANewSession {
                        unreadable[item.from, default: []].append(item.id)
                        text += "; asked \(item.from) to send it again"
                    }
                    try Self.insertIncoming(db, id: item.id, from: item.from, chat: item.group.map { "#" + $0 } ?? item.from, me: me, text: text,
                                            at: item.sentAt, undecryptable: true, into: &batch)
                    continue
                }
                switch content {
                case .text(let text), .reply(_, let text):
                    // What is inside the encryption is the truth: a direct message the relay labelled
                    // as a group's stays in the direct chat, marked.
                    let shown = item.group.map { "⚠ (a direct message, delivered as #\($0)) " + text } ?? text
                    var replyTo: String?
                    if case .reply(let to, _) = content { replyTo = to }
                    try Self.insertIncoming(db, id: item.id, from: item.from, me: me, text: shown, at: item.sentAt, undecryptable: false,
                                            replyTo: replyTo, into: &batch)
                case .groupText(let group, let text, let replyTo):
                    // The group named inside the encryption is the truth; the relay's label must agree.
                    // A relabelled copy goes to that group, marked, if the sender is in it as this
                    // client knows it; otherwise to the direct chat, marked (a relay's label alone
                    // never makes a group).
                    let known = try Self.group(db, group)
                    let relabelled = item.group != group
                    let chat = !relabelled || known?.members.contains(item.from) == true ? "#" + group : item.from
                    let shown = relabelled ? "⚠ (sent to #\(group), delivered as \(item.group.map { "#" + $0 } ?? "a direct message")) " + text : text
                    if !relabelled, known == nil {
                        try Self.saveGroup(db, GroupState(name: group, title: group, members: [item.from, me], admins: [], isMember: true))
                    }
                    try Self.insertIncoming(db, id: item.id, from: item.from, chat: chat, me: me, text: shown, at: item.sentAt, undecryptable: false,
                                            replyTo: replyTo, into: &batch)
                case .reaction(let to, let emoji, let group):
                    // The conversation named inside the encryption, as for texts.
                    if let target = try Self.receiveReaction(db, to: to, emoji: emoji, from: item.from, chat: group.map { "#" + $0 } ?? item.from, at: item.sentAt) {
                        batch.updated.append(target)
                    }
                case .edit(let of, let text, let group):
                    // A change replaces the text: the index entry it removes must exist first.
                    try indexPending()
                    if let changed = try Self.receiveChange(db, of: of, from: item.from, chat: group.map { "#" + $0 } ?? item.from, edit: text, at: item.sentAt) {
                        batch.updated.append(changed)
                    }
                case .delete(let of, let group):
                    try indexPending()
                    if let changed = try Self.receiveChange(db, of: of, from: item.from, chat: group.map { "#" + $0 } ?? item.from, edit: nil, at: item.sentAt) {
                        batch.updated.append(changed)
                    }
                case .file(let offer, let group, let replyTo):
                    // The group named inside the encryption, if the sender is in it; else the direct chat.
                    let chat: String
                    if let group, try Self.group(db, group)?.members.contains(item.from) == true {
                        chat = "#" + group
                    } else {
                        chat = item.from
                    }
                    let caption = offer.caption ?? ""
                    try Self.insertIncoming(db, id: item.id, from: item.from, chat: chat, me: me, text: caption, at: item.sentAt, undecryptable: false,
                                            replyTo: replyTo, into: &batch)
                    try Self.insertFileOffer(db, offer, sender: item.from, messageID: item.id, chat: chat)
                    if let index = batch.added.indices.last {
                        batch.added[index].attachment = Attachment(blob: offer.blob, name: FileOffer.safeName(offer.name), size: offer.size, sha256: offer.sha256,
                                                                   state: .pending, longText: offer.longText == true)
                    }
                    batch.filesArrived = true
                case .timer(let seconds, let group):
                    let chat = group.map { "#" + $0 } ?? item.from
                    if let notice = try Self.receiveTimer(db, seconds, from: item.from, chat: chat, me: me, at: item.sentAt) {
                        batch.timers[chat] = .some(seconds)
                        batch.added.append(notice)
                    }
                case .resent(let id, let text):
                    // Both change a message's text: its index entry must exist first.
                    try indexPending()
                    try Self.receiveResent(db, id: id, from: item.from, me: me, text: text, at: item.sentAt, into: &batch)
                case .resendRequest(let ids):
                    try indexPending()
                    try Self.resend(db, ids: ids, to: item.from, me: me, at: item.sentAt, into: &batch)
                }
            }
            for (peer, ids) in unreadable {
                // The next message to them starts a new session, which they adopt for replying.
                var set = try sessionCache[peer] ?? Self.sessions(db, peer)
                set.retireCurrent()
                sessionCache[peer] = set
                try Self.enqueueControl(db, .resendRequest(ids: ids), to: peer)
                batch.queuedControl = true
            }
            for (peer, set) in sessionCache { try Self.saveSessions(db, peer, set) }
            for (chat, activity) in batch.chatActivity { try Self.touchChat(db, chat, at: activity.latest, unreadDelta: activity.unread) }
            return batch
        } }
    }

    /// A prekey message whose sender key differs from the one pinned for its sender.
    static func claimsAnotherIdentity(_ db: Database, _ item: EncryptedIncoming) throws -> Bool {
        guard let part = (try? Envelope(decoding: item.body))?.preKey, let pinned = try contact(db, item.from) else { return false }
        return part.initiatorSigningKey != pinned.signingKey || part.initiatorAgreementKey != pinned.agreementKey
    }

    struct MessageKey: Hashable {
        var sender: String
        var id: String
    }

    /// Which of a batch's messages are stored already: one query per sender (and per 500 ids),
    /// where a query per message was a tenth of the work of storing one.
    private static func alreadyStored(_ db: Database, _ items: [EncryptedIncoming]) throws -> Set<MessageKey> {
        var stored: Set<MessageKey> = []
        for (sender, senderItems) in Dictionary(grouping: items, by: \.from) {
            for start in stride(from: 0, to: senderItems.count, by: 500) {
                let ids = senderItems[start..<min(start + 500, senderItems.count)].map(\.id)
                let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ", ")
                let statement = try db.makeStatement(sql: "SELECT id FROM messages WHERE sender = ? AND id IN (\(placeholders))")
                for id in try String.fetchAll(statement, arguments: StatementArguments([sender] + ids)) {
                    stored.insert(MessageKey(sender: sender, id: id))
                }
            }
        }
        return stored
    }

    private static func insertIncoming(_ db: Database, id: String, from: String, chat: String? = nil, me: String, text: String, at date: Date,
                                       undecryptable: Bool, replyTo: String? = nil, into batch: inout ReceivedBatch) throws {
        let chat = chat ?? from
        let expiresAt = try batch.expiry(db, chat: chat)
        try db.cachedStatement(sql: """
            INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, undecryptable, replyTo, expiresAt) VALUES (?, ?, ?, ?, ?, 'received', ?, ?, ?, ?)
            """)
            .execute(arguments: [id, chat, from, chat.hasPrefix("#") ? chat : me, text, millis(date), undecryptable, replyTo, expiresAt])
        let localID = db.lastInsertedRowID
        batch.noteActivity(in: chat, at: date)
        batch.added.append(MessageRecord(localID: localID, id: id, chat: chat, from: from, to: chat.hasPrefix("#") ? chat : me, text: text,
                                         status: .received, failureReason: nil, sentAt: date, replyTo: replyTo, expiresAt: expiresAt.map(Self.date)))
    }

    /// A resent copy fills in the message that could not be decrypted, in its original place.
    private static func receiveResent(_ db: Database, id: String, from: String, me: String, text: String, at date: Date,
                                      into batch: inout ReceivedBatch) throws {
        guard let existing = try message(db, sender: from, id: id) else {
            try insertIncoming(db, id: id, from: from, me: me, text: text, at: date, undecryptable: false, into: &batch)
            return
        }
        try db.execute(sql: "UPDATE messages SET text = ?, undecryptable = 0 WHERE localID = ? AND undecryptable = 1",
                       arguments: [text, existing.localID])
        guard db.changesCount > 0 else { return }
        var updated = existing
        updated.text = text
        batch.updated.append(updated)
    }

    /// Queues copies of our messages that `peer` could not decrypt, and says so in the chat.
    /// Requests arriving one after another (the peer decrypted its mailbox in several batches)
    /// update the notice they follow instead of stacking one notice per batch.
    static func resend(_ db: Database, ids: [String], to peer: String, me: String, at date: Date, into batch: inout ReceivedBatch) throws {
        var count = 0
        var held = 0
        var budget = try resendBudget(db, peer: peer, at: date)
        for id in ids.prefix(ProtocolLimits.maxIDsPerFrame) {
            // A message deleted since is not sent again.
            guard let original = try message(db, sender: me, id: id), original.deleted == nil else { continue }
            switch try decideResend(db, id: id, to: peer, at: date, budget: &budget) {
            case .send:
                try enqueueControl(db, .resent(id: id, text: original.text), to: peer)
                count += 1
            case .hold:
                held += 1
            case .refuse:
                continue
            }
        }
        if held > 0 {
            let text = "⚠ \(peer) asked again for \(held) message\(held == 1 ? "" : "s") sent before their security key changed; "
                + "not sent. Compare safety numbers (/verify \(peer)); '/verify \(peer) yes' sends them."
            batch.added.append(try insertNotice(db, chat: peer, text: text, me: me, at: date))
        }
        guard count > 0 else { return }
        batch.queuedControl = true
        let latest = try Row.fetchOne(db, sql: "SELECT \(columns) FROM messages WHERE chat = ? ORDER BY localID DESC LIMIT 1", arguments: [peer]).map(record)
        if var notice = latest, notice.from == systemSender, let earlier = ResendNotice(id: notice.id) {
            let merged = ResendNotice(count: earlier.count + count)
            try db.execute(sql: "UPDATE messages SET id = ?, text = ? WHERE localID = ?", arguments: [merged.id, merged.text(peer: peer), notice.localID])
            notice.id = merged.id
            notice.text = merged.text(peer: peer)
            batch.updated.append(notice)
            return
        }
        let notice = ResendNotice(count: count)
        batch.added.append(try insertNotice(db, chat: peer, text: notice.text(peer: peer), me: me, at: date, id: notice.id))
    }

    static func enqueueControl(_ db: Database, _ content: MessageContent, to peer: String) throws {
        try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('control', ?, ?, ?)",
                       arguments: ["ctl-" + UUID().uuidString.lowercased(), peer, content.encoded])
    }

    private static func decrypt(_ db: Database, _ item: EncryptedIncoming, me: String, identity: IdentityKeys,
                                sessions cache: inout [String: SessionSet]) throws -> (Data, MessageRecord?) {
        let envelope = try Envelope(decoding: item.body)
        var set = try cache[item.from] ?? sessions(db, item.from)
        var notice: MessageRecord?
        if let part = envelope.preKey, !set.all.contains(where: { $0.remoteEphemeral == part.ephemeralKey }) {
            // A new session started by the sender (perhaps while ours to them was starting too).
            // A prekey message seen before (a replay, perhaps under a new id) must not start a
            // session again: it would replace the one in use.
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM prekey_bases WHERE ephemeralKey = ?", arguments: [part.ephemeralKey]) != true else {
                throw E2EError.replayed(counter: envelope.header.counter)
            }
            guard let signedData = try Data.fetchOne(db, sql: "SELECT record FROM own_signed_prekeys WHERE id = ?", arguments: [Int64(part.signedPreKeyID)]) else {
                throw E2EError.signedPreKeyUnknown(part.signedPreKeyID)
            }
            let signed: SignedPreKey = try decode(signedData)
            var oneTime: OneTimePreKey?
            if let id = part.oneTimePreKeyID {
                guard let data = try Data.fetchOne(db, sql: "SELECT record FROM own_one_time_prekeys WHERE id = ?", arguments: [Int64(id)]) else {
                    throw E2EError.oneTimePreKeyUnknown(id)
                }
                oneTime = try decode(data)
            }
            let (shared, ad) = try X3DH.respond(identity: identity, signedPreKey: signed.keyPair, oneTimePreKey: oneTime?.keyPair,
                                                initiatorSigningKey: part.initiatorSigningKey, initiatorAgreementKey: part.initiatorAgreementKey,
                                                ephemeralKey: part.ephemeralKey)
            var fresh = Session(ratchet: DoubleRatchet.responder(sharedKey: shared, signedPreKey: signed.keyPair, associatedData: ad),
                                preKey: nil, remoteEphemeral: part.ephemeralKey)
            let padded = try fresh.ratchet.decrypt(header: envelope.header, ciphertext: envelope.ciphertext)
            let plaintext = try Padding.unpad(padded)
            // Only a message that decrypts may pin a new identity key: a forged prekey message
            // (junk under someone's name) changes nothing, no notice, no lost session.
            notice = try pin(db, name: item.from, signingKey: part.initiatorSigningKey, agreementKey: part.initiatorAgreementKey, me: me, at: item.sentAt)
            if notice != nil { set = SessionSet() }
            try db.execute(sql: "INSERT OR IGNORE INTO prekey_bases (ephemeralKey, at) VALUES (?, ?)", arguments: [part.ephemeralKey, millis(item.sentAt)])
            set.promote(fresh)
            cache[item.from] = set
            if let id = part.oneTimePreKeyID {
                try db.execute(sql: "DELETE FROM own_one_time_prekeys WHERE id = ?", arguments: [Int64(id)])
            }
            return (plaintext, notice)
        }
        // An existing session: the one for sending first, then the earlier ones.
        let candidates = set.all
        guard !candidates.isEmpty else { throw E2EError.noSession }
        var firstError: E2EError?
        for (index, candidate) in candidates.enumerated() {
            if let part = envelope.preKey, candidate.remoteEphemeral != part.ephemeralKey { continue }
            var session = candidate
            let attempt = Result { () throws(E2EError) -> Data in
                try Padding.unpad(try session.ratchet.decrypt(header: envelope.header, ciphertext: envelope.ciphertext))
            }
            guard case .success(let plaintext) = attempt else {
                if case .failure(let error) = attempt { firstError = firstError ?? error }
                continue
            }
            // They have answered on this session: our prekey part is no longer needed, and we send on it.
            if envelope.preKey == nil { session.preKey = nil }
            if index == 0, set.current != nil {
                set.current = session
            } else {
                set.promote(session, replacingArchivedAt: set.current == nil ? index : index - 1)
            }
            cache[item.from] = set
            return (plaintext, notice)
        }
        throw firstError ?? E2EError.noSession
    }

    // MARK: Coding

    static func encode<T: Encodable>(_ value: T) throws -> Data { try JSONEncoder().encode(value) }
    static func decode<T: Decodable>(_ data: Data) throws -> T { try JSONDecoder().decode(T.self, from: data) }
}
