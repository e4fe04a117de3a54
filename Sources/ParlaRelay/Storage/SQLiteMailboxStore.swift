import Crypto
import Foundation
import GRDB
import ParlaCrypto
import Synchronization
import ParlaProtocol

/// The default `MailboxStore`: one SQLite file in WAL mode with full synchronous
/// commits, written through a `GroupCommitter`. `secure_delete` zeroes deleted rows so
/// a delivered message leaves no bytes behind once the log is checkpointed.
public final class SQLiteMailboxStore: MailboxStore {
    public let path: String
    let pool: DatabasePool
    let committer: GroupCommitter
    /// Sender/recipient pairs known to be in `peers`, so a busy conversation does not write
    /// the same two rows with every message. Filled only after a commit that stored them.
    private let knownPeers = KnownPeers()
    /// Every idempotency key taken, approximately: lets the live route skip a database read.
    let acceptedKeys = AcceptedKeyFilter()
    /// The exact keys of stored requests not yet merged into `accepted`.
    let acceptedLog: AcceptedKeyLog
    /// The exact keys of recent live deliveries, which the `accepted` table never holds.
    private let deliveredLive = RecentlyDelivered()
    /// Recipients' counters, written once per commit instead of once per stored message.
    private let counters = MailboxCounters()
    /// Signing keys already read or registered: a login needs no database read for them.
    let signingKeys = SigningKeys()

    /// Opens (creating if needed) the store in `directory/relay.sqlite`. Up to `acceptedKeysInMemory`
    /// idempotency keys of stored requests (about 32 bytes each) are kept in memory before they are
    /// merged into the database's key-ordered table. `diskReserveBytes` are set aside next to the
    /// database so that deliveries can still be confirmed on a full disk (see `DiskReserve`).
    public init(directory: String, acceptedKeysInMemory: Int = 65_536, diskReserveBytes: Int = 16 << 20) throws {
        self.acceptedLog = AcceptedKeyLog(mergeThreshold: acceptedKeysInMemory)
        let path = (directory as NSString).appendingPathComponent("relay.sqlite")
        // A write-ahead log without its database: the database was lost (deleted, a bad
        // restore). Starting empty would acknowledge nothing of what was acknowledged before.
        if !FileManager.default.fileExists(atPath: path), FileManager.default.fileExists(atPath: path + "-wal") {
            throw StoreError.missingDatabase(path)
        }
        // Who talks to whom and the waiting ciphertext: readable by the relay's user only.
        try PrivateStorage.prepare(directory: directory, file: "relay.sqlite")
        // On a full disk, opening the database (its shared-memory index, its log) needs room:
        // the reserve gives it, and the relay starts refusing new messages until there is more.
        let reserve = DiskReserve(directory: directory, bytes: diskReserveBytes)
        if let free = reserve.freeBytes, free < Int64(diskReserveBytes) { reserve.release() }
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // A backlog of mailboxes outgrows SQLite's default 2 MB page cache, and every
            // delivery then waits on disk reads; 32 MB per connection keeps the hot pages in memory.
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        self.pool = try DatabasePool(path: path, configuration: config)
        // A damaged file is said at start, with what is wrong, before anything is served from it.
        let problems = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard problems == ["ok"] else { throw StoreError.corrupt("\(path) fails SQLite's check: " + problems.prefix(3).joined(separator: "; ")) }
        try Self.migrator.migrate(pool)
        reserve.replenish()
        self.committer = GroupCommitter(writer: pool, deferred: DeferredWriteGroup([counters, acceptedLog]), reserve: reserve)
        try pool.read { db in
            let keys = try Data.fetchCursor(db, sql: "SELECT key FROM accepted UNION ALL SELECT key FROM accepted_log")
            while let key = try keys.next() { acceptedKeys.insert(key) }
            try acceptedLog.load(db)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE users (
                    name TEXT PRIMARY KEY,
                    signingKey BLOB NOT NULL,
                    agreementKey BLOB NOT NULL,
                    createdAt INTEGER NOT NULL,
                    lastSeen INTEGER,
                    pendingMessages INTEGER NOT NULL DEFAULT 0,
                    pendingBytes INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE invites (code TEXT PRIMARY KEY, createdAt INTEGER NOT NULL);
                CREATE TABLE mailbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    recipient TEXT NOT NULL,
                    id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    kind INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    acceptedAt INTEGER NOT NULL,
                    expiresAt INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX mailbox_by_recipient_id ON mailbox(recipient, id);
                CREATE INDEX mailbox_by_recipient_seq ON mailbox(recipient, seq);
                CREATE INDEX mailbox_by_expiry ON mailbox(expiresAt);
                CREATE TABLE accepted (key BLOB PRIMARY KEY, expiresAt INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX accepted_by_expiry ON accepted(expiresAt);
                CREATE TABLE peers (user TEXT NOT NULL, peer TEXT NOT NULL, PRIMARY KEY (user, peer)) WITHOUT ROWID;
                """)
            let identity = "relay-" + randomHex(bytes: 16)
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('relay_id', ?)", arguments: [identity])
        }
        migrator.registerMigration("v2-prekeys") { db in
            try db.execute(sql: """
                CREATE TABLE signed_prekeys (
                    user TEXT PRIMARY KEY,
                    id INTEGER NOT NULL,
                    key BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    updatedAt INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE one_time_prekeys (
                    user TEXT NOT NULL,
                    id INTEGER NOT NULL,
                    key BLOB NOT NULL,
                    PRIMARY KEY (user, id)
                ) WITHOUT ROWID;
                """)
        }
        registerGroupMigration(&migrator)
        registerMailboxByRecipientMigration(&migrator)
        AcceptedKeyLog.registerMigration(&migrator)
        registerSignedGroupMigration(&migrator)
        migrator.registerMigration("v7-relay-key") { db in
            // The key clients pin at `init`; relays from before it keep their identity string,
            // and their clients pin the key at their next login.
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('relay_key', ?)",
                           arguments: [RelayIdentityKey().privateRaw.base64EncodedString()])
        }
        migrator.registerMigration("v8-every-item-counts") { db in
            // The quota counted messages only; from here every item in a mailbox counts.
            try db.execute(sql: """
                UPDATE users SET
                    pendingMessages = (SELECT count(*) FROM mailbox WHERE pos > users.box << 32 AND pos <= users.box << 32 | \(Self.maxSeq)),
                    pendingBytes = (SELECT coalesce(sum(length(body)), 0) FROM mailbox WHERE pos > users.box << 32 AND pos <= users.box << 32 | \(Self.maxSeq))
                """)
        }
        return migrator
    }

    public func storePrekeys(user: String, signed: SignedPrekeyRecord?, oneTime: [OneTimePrekeyRecord], replacingOneTime: Bool, limit: Int, now: Int64) async throws -> PrekeyStatus {
        try await committer.perform(adds: true) { db in
            if replacingOneTime {
                try db.cachedStatement(sql: "DELETE FROM one_time_prekeys WHERE user = ?").execute(arguments: [user])
            }
            if let signed {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO signed_prekeys (user, id, key, signature, updatedAt) VALUES (?, ?, ?, ?, ?)").execute(arguments: [user, Int64(signed.id), signed.key, signed.signature, now])
            }
            let existing = try Int.fetchOne(try db.cachedStatement(sql: "SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?"), arguments: [user]) ?? 0
            // Past the limit the newest are dropped: a client cannot fill the relay's disk.
            for key in oneTime.prefix(max(0, limit - existing)) {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO one_time_prekeys (user, id, key) VALUES (?, ?, ?)").execute(arguments: [user, Int64(key.id), key.key])
            }
            return try Self.prekeyStatus(db, user: user)
        }
    }

    public func takePrekeyBundle(user: String, takingOneTime: Bool) async throws -> PrekeyBundleRecord {
        // Committed before it is sent: a one-time prekey is never handed out twice, even across a crash.
        try await committer.perform { db in
            let signed = try Row.fetchOne(try db.cachedStatement(sql: "SELECT id, key, signature FROM signed_prekeys WHERE user = ?"), arguments: [user])
                .map { SignedPrekeyRecord(id: UInt32(truncatingIfNeeded: $0[0] as Int64), key: $0[1], signature: $0[2]) }
            let oneTime = takingOneTime
                ? try Row.fetchOne(try db.cachedStatement(sql: "SELECT id, key FROM one_time_prekeys WHERE user = ? ORDER BY id LIMIT 1"), arguments: [user])
                    .map { OneTimePrekeyRecord(id: UInt32(truncatingIfNeeded: $0[0] as Int64), key: $0[1]) }
                : nil
            if let oneTime {
                try db.cachedStatement(sql: "DELETE FROM one_time_prekeys WHERE user = ? AND id = ?").execute(arguments: [user, Int64(oneTime.id)])
            }
            let left = try Self.prekeyStatus(db, user: user).oneTimeLeft
            return PrekeyBundleRecord(signed: signed, oneTime: oneTime, oneTimeLeft: left)
        }
    }

    static func prekeyStatus(_ db: Database, user: String) throws -> PrekeyStatus {
        PrekeyStatus(oneTimeLeft: try Int.fetchOne(try db.cachedStatement(sql: "SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?"), arguments: [user]) ?? 0,
                     signedID: try Int64.fetchOne(try db.cachedStatement(sql: "SELECT id FROM signed_prekeys WHERE user = ?"), arguments: [user]).map { UInt32(truncatingIfNeeded: $0) })
    }

    public func relayIdentity() async throws -> RelayIdentity {
        try await pool.read { db in
            guard let id = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'relay_id'") else {
                throw StoreError.corrupt("relay identity missing")
            }
            guard let stored = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'relay_key'"),
                  let raw = Data(base64Encoded: stored), let key = try? RelayIdentityKey(privateRaw: raw) else {
                throw StoreError.corrupt("the relay's signing key is missing or damaged; clients that pinned it will refuse any other")
            }
            return RelayIdentity(id: id, key: key)
        }
    }

    public func register(_ user: UserRecord, invite: String?, registrationOpen: Bool, now: Int64) async throws -> RegisterOutcome {
        let outcome = try await committer.perform(adds: true) { db -> RegisterOutcome in
            if try Bool.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM users WHERE name = ?"), arguments: [user.name]) == true {
                return .nameTaken
            }
            if !registrationOpen {
                guard let invite, !invite.isEmpty else { return .inviteRequired }
                try db.cachedStatement(sql: "DELETE FROM invites WHERE code = ?").execute(arguments: [invite])
                if db.changesCount == 0 { return .invalidInvite }
            }
            // The next free mailbox range; `users_by_box` makes the max a single lookup.
            let box = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT coalesce(max(box), 0) + 1 FROM users")) ?? 1
            guard box <= Self.maxBox else { throw StoreError.exhausted("this relay has its maximum of \(Self.maxBox) accounts") }
            try db.cachedStatement(sql: "INSERT INTO users (name, signingKey, agreementKey, createdAt, box) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [user.name, user.signingKey, user.agreementKey, now, box])
            return .registered
        }
        // Only now: an account whose commit failed must not be able to log in.
        if outcome == .registered { signingKeys.remember(user.signingKey, of: user.name) }
        return outcome
    }

    public func signingKey(of name: String) async throws -> Data? {
        if let key = signingKeys.key(of: name) { return key }
        let key = try await pool.read { db in
            try Data.fetchOne(try db.cachedStatement(sql: "SELECT signingKey FROM users WHERE name = ?"), arguments: [name])
        }
        if let key { signingKeys.remember(key, of: name) }
        return key
    }

    public func user(named name: String) async throws -> UserRecord? {
        try await pool.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT name, signingKey, agreementKey, lastSeen FROM users WHERE name = ?"), arguments: [name])
                .map { UserRecord(name: $0[0], signingKey: $0[1], agreementKey: $0[2], lastSeen: $0[3]) }
        }
    }

    public func createInvite(now: Int64) async throws -> String {
        let code = randomHex(bytes: 12)
        try await committer.perform(adds: true) { db in
            try db.cachedStatement(sql: "INSERT INTO invites (code, createdAt) VALUES (?, ?)").execute(arguments: [code, now])
        }
        return code
    }

    public func enqueueAccept(id: String, from sender: String, to recipient: String, body: Data, now: Int64, expiresAt: Int64, quota: MailboxQuota) -> PendingOutcome<AcceptOutcome> {
        let key = Self.acceptedKey(sender: sender, id: id)
        if let at = deliveredLive.deliveredAt(key) { return PendingOutcome { .delivered(at: at) } }
        // Certainly new (the usual case) skips the lookup in the job; "maybe" checks the table.
        let maybeTaken = acceptedKeys.mightContain(key)
        acceptedKeys.insert(key)
        let pair = Self.pairKey(sender, recipient)
        let peersKnown = knownPeers.contains(pair)
        mergeAcceptedLogIfFull(now: now)
        let ticket = committer.submit(usingDeferred: true, adds: true) { [counters, acceptedLog] db -> AcceptOutcome in
            guard let mailbox = try counters.counters(of: recipient, in: db) else {
                return .unknownRecipient
            }
            if maybeTaken, try acceptedLog.contains(key, db) {
                return .duplicate
            }
            switch try Self.room(in: db, box: mailbox.box, items: mailbox.pendingMessages, bytes: mailbox.pendingBytes, from: sender, adding: body.count, quota: quota) {
            case .room: break
            case .full: return .mailboxFull
            case .senderShareUsed: return .senderShareUsed
            }
            // Refused: another sender's message with this id is waiting. The recipient's row is not
            // updated here: `counters` writes it once per commit.
            let seq = mailbox.lastSeq + 1
            guard try Self.insertRow(db, box: mailbox.box, seq: seq, to: recipient, id: id, from: sender, kind: .message, body: body,
                                     acceptedAt: now, expiresAt: expiresAt) else {
                return .idConflict
            }
            try acceptedLog.record(key, until: expiresAt, db)
            counters.stored(for: recipient, seq: seq, bytes: body.count, expiresAt: expiresAt)
            if !peersKnown {
                // Who wrote to whom: presence and typing need both directions.
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO peers (user, peer) VALUES (?, ?)").execute(arguments: [sender, recipient])
            }
            return .stored
        }
        return PendingOutcome { [knownPeers] in
            let outcome = try await ticket.value()
            if outcome == .stored, !peersKnown { knownPeers.insert(pair) }
            return outcome
        }
    }

    public func recordLiveDeliveries(_ deliveries: [LiveDeliveryRecord]) {
        let keys = deliveries.map(\.acceptedKey)
        for key in keys { acceptedKeys.insert(key) }
        deliveredLive.insert(deliveries.map { ($0.acceptedKey, $0.deliveredAt) })
        // Who talks to whom (presence, typing) is written once per pair; nothing else about the messages.
        // A confirmation's deliveries mostly share one sender: each run of a pair is looked at once.
        var unknown: Set<String> = []
        var pairs: [(String, String)] = []
        var previous: (sender: String, recipient: String)?
        for delivery in deliveries {
            if let previous, previous == (delivery.sender, delivery.recipient) { continue }
            previous = (delivery.sender, delivery.recipient)
            let pair = Self.pairKey(delivery.sender, delivery.recipient)
            if !knownPeers.contains(pair), unknown.insert(pair).inserted { pairs.append((delivery.sender, delivery.recipient)) }
        }
        guard !pairs.isEmpty else { return }
        let ticket = committer.submit { [pairs] db in
            for (sender, recipient) in pairs {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO peers (user, peer) VALUES (?, ?)").execute(arguments: [sender, recipient])
            }
        }
        Task { [knownPeers, unknown] in
            if (try? await ticket.value()) != nil { for pair in unknown { knownPeers.insert(pair) } }
        }
    }

    public func mightHaveAccepted(key: Data) -> Bool {
        acceptedKeys.mightContain(key)
    }

    public func acceptReadReceipt(id: String, from reader: String, to sender: String, messageIds: [String], now: Int64, expiresAt: Int64, quota: MailboxQuota) async throws -> AcceptOutcome {
        let key = Self.acceptedKey(sender: reader, id: id)
        acceptedKeys.insert(key)
        mergeAcceptedLogIfFull(now: now)
        return try await committer.perform(adds: true) { [acceptedLog] db in
            let body = Self.receiptBody(messageIds)
            guard let room = try Self.room(in: db, of: sender, from: reader, adding: body.count, quota: quota) else {
                return .unknownRecipient
            }
            if try acceptedLog.contains(key, db) {
                return .duplicate
            }
            switch room {
            case .room: break
            case .full: return .mailboxFull
            case .senderShareUsed: return .senderShareUsed
            }
            try Self.insertReceipt(db, to: sender, from: reader, kind: .read, messageIds: messageIds, now: now, expiresAt: expiresAt)
            try acceptedLog.record(key, until: expiresAt, db)
            return .stored
        }
    }

    public func pending(for user: String, after seq: Int64, limit: Int, now: Int64) async throws -> [MailboxItem] {
        try await pool.read { db in
            // Read column by column: GRDB's rows cost more than the read itself on a draining mailbox.
            // An item past its expiry is never handed out, even before the sweep deletes it.
            let rows = try HotStatement(db, """
                SELECT pos & \(Self.maxSeq), id, sender, kind, body, acceptedAt, grp FROM mailbox
                WHERE pos > (SELECT box FROM users WHERE name = ?1) << 32 | ?2 AND pos <= (SELECT box FROM users WHERE name = ?1) << 32 | \(Self.maxSeq)
                  AND expiresAt > ?4
                ORDER BY pos LIMIT ?3
                """).bind(.text(user), .int(seq), .int(limit), .int(now))
            defer { rows.finish() }
            var items: [MailboxItem] = []
            items.reserveCapacity(min(limit, 256))
            while try rows.step() {
                guard let kind = MailboxItem.Kind(rawValue: Int(rows.int(3))) else { throw StoreError.corrupt("unknown item kind \(rows.int(3))") }
                items.append(MailboxItem(seq: rows.int(0), id: rows.text(1), sender: rows.text(2), kind: kind, body: rows.blob(4), acceptedAt: rows.int(5),
                                         group: rows.optionalText(6)))
            }
            return items
        }
    }

    public func enqueueConfirm(user: String, items: [ConfirmedItem], now: Int64, receiptExpiresAt: Int64) -> PendingOutcome<ConfirmOutcome> {
        let positions = Set(items.compactMap(\.seq)).sorted()
        let byID = items.filter { $0.seq == nil }.map(\.id)
        let ticket = committer.submit { db in
            var deliveredBySender: [String: [String]] = [:]
            var senderOrder: [String] = []
            var deletedMessages = 0
            var deletedItems = 0
            var deletedBytes = 0
            /// Reads the `RETURNING id, sender, kind, length(body)` rows of one delete to the end.
            func collect(_ delete: HotStatement) throws {
                while try delete.step() {
                    // Every kind counts against the quota; only messages are receipted.
                    deletedItems += 1
                    deletedBytes += Int(delete.int(3))
                    guard delete.int(2) == Int64(MailboxItem.Kind.message.rawValue) else { continue }
                    let sender = delete.text(1)
                    deletedMessages += 1
                    if deliveredBySender[sender] == nil { senderOrder.append(sender) }
                    deliveredBySender[sender, default: []].append(delete.text(0))
                }
                delete.finish()
            }
            if !positions.isEmpty {
                let boxes = try HotStatement(db, "SELECT box FROM users WHERE name = ?").bind(.text(user))
                let box = try boxes.step() ? boxes.int(0) : nil
                boxes.finish()
                // Consecutive confirmed positions go in one ranged delete: a drained mailbox is mostly one run per confirmation.
                var runStart = 0
                while let box, runStart < positions.count {
                    var runEnd = runStart
                    while runEnd + 1 < positions.count, positions[runEnd + 1] == positions[runEnd] + 1 { runEnd += 1 }
                    try collect(try HotStatement(db, "DELETE FROM mailbox WHERE pos BETWEEN ? AND ? RETURNING id, sender, kind, length(body)")
                        .bind(.int(Self.position(box: box, seq: positions[runStart])), .int(Self.position(box: box, seq: positions[runEnd]))))
                    runStart = runEnd + 1
                }
            }
            for id in byID {
                try collect(try HotStatement(db, "DELETE FROM mailbox WHERE recipient = ? AND id = ? RETURNING id, sender, kind, length(body)").bind(.text(user), .text(id)))
            }
            if deletedItems > 0 {
                try HotStatement(db, "UPDATE users SET pendingMessages = pendingMessages - ?, pendingBytes = pendingBytes - ? WHERE name = ?")
                    .bind(.int(deletedItems), .int(deletedBytes), .text(user)).execute()
            }
            for sender in senderOrder {
                try Self.insertReceipt(db, to: sender, from: user, kind: .delivered, messageIds: deliveredBySender[sender]!, now: now, expiresAt: receiptExpiresAt)
            }
            return ConfirmOutcome(notified: senderOrder, deletedMessages: deletedMessages)
        }
        return PendingOutcome { try await ticket.value() }
    }

    public func expire(now: Int64, receiptExpiresAt: Int64) async throws -> ExpiryOutcome {
        try await committer.perform { [acceptedLog] db in
            // `nextExpiry` is the earliest expiry ever stored in the mailbox since its last sweep (a
            // delivery does not raise it), so only these mailboxes can hold something past its time.
            let due = try Row.fetchAll(try db.cachedStatement(sql: "SELECT name, box FROM users WHERE nextExpiry <= ?"), arguments: [now])
            var expiredBySenderAndRecipient: [String: [String: [String]]] = [:]
            var expired = 0
            for user in due {
                let recipient: String = user[0]
                let box: Int64 = user[1]
                let range: StatementArguments = [Self.position(box: box, seq: 0), Self.position(box: box, seq: Self.maxSeq)]
                let rows = try Row.fetchAll(try db.cachedStatement(sql: "DELETE FROM mailbox WHERE pos > ? AND pos <= ? AND expiresAt <= ? RETURNING id, sender, kind, length(body)"),
                                            arguments: range + [now])
                var messages = 0
                var bytes = 0
                for row in rows {
                    bytes += row[3] as Int
                    guard (row[2] as Int) == MailboxItem.Kind.message.rawValue else { continue }
                    messages += 1
                    expiredBySenderAndRecipient[row[1], default: [:]][recipient, default: []].append(row[0])
                }
                expired += messages
                try db.cachedStatement(sql: """
                    UPDATE users SET pendingMessages = pendingMessages - ?, pendingBytes = pendingBytes - ?,
                        nextExpiry = (SELECT min(expiresAt) FROM mailbox WHERE pos > ? AND pos <= ?) WHERE name = ?
                    """).execute(arguments: [rows.count, bytes] + range + [recipient])
            }
            for (sender, byRecipient) in expiredBySenderAndRecipient {
                for (recipient, ids) in byRecipient {
                    try Self.insertReceipt(db, to: sender, from: recipient, kind: .expired, messageIds: ids, now: now, expiresAt: receiptExpiresAt)
                }
            }
            try db.cachedStatement(sql: "DELETE FROM accepted WHERE expiresAt <= ?").execute(arguments: [now])
            try acceptedLog.merge(db, now: now)
            return ExpiryOutcome(expiredMessages: expired, notified: Array(expiredBySenderAndRecipient.keys).sorted())
        }
    }

    public func setLastSeen(_ user: String, at: Int64) async throws {
        try await committer.perform { db in
            try db.cachedStatement(sql: "UPDATE users SET lastSeen = ? WHERE name = ?").execute(arguments: [at, user])
        }
    }

    /// Users who have written to `user` and been written to by them (presence and typing go
    /// only between such mutual contacts: a stranger's one message shows them nothing).
    public func peers(of user: String) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(try db.cachedStatement(sql: """
                SELECT p.peer FROM peers p JOIN peers q ON q.user = p.peer AND q.peer = p.user WHERE p.user = ? ORDER BY p.peer
                """), arguments: [user])
        }
    }

    public func peersLastSeen(of user: String) async throws -> [(name: String, lastSeen: Int64?)] {
        try await pool.read { db in
            try Row.fetchAll(try db.cachedStatement(sql: """
                SELECT p.peer, users.lastSeen FROM peers p JOIN peers q ON q.user = p.peer AND q.peer = p.user
                JOIN users ON users.name = p.peer WHERE p.user = ? ORDER BY p.peer
                """), arguments: [user]).map { (name: $0[0], lastSeen: $0[1]) }
        }
    }

    /// Both have written to each other.
    public func sharesConversation(_ a: String, _ b: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(try db.cachedStatement(sql: """
                SELECT 1 FROM peers p JOIN peers q ON q.user = p.peer AND q.peer = p.user WHERE p.user = ? AND p.peer = ?
                """), arguments: [a, b]) == true
        }
    }

    public func hasWritten(_ sender: String, to recipient: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM peers WHERE user = ? AND peer = ?"), arguments: [sender, recipient]) == true
        }
    }

    public func stats() async throws -> RelayStats {
        let (users, messages, receipts) = try await pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mailbox WHERE kind = 0") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mailbox WHERE kind <> 0") ?? 0
            )
        }
        return RelayStats(users: users, pendingMessages: messages, pendingReceipts: receipts, databaseBytes: databaseBytes())
    }

    /// Total size of the database file and its write-ahead log.
    public func databaseBytes() -> Int64 {
        [path, path + "-wal"].reduce(Int64(0)) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
            return total + size
        }
    }

    public var commits: Int { committer.commits }
    public var isLowOnSpace: Bool { committer.isLowOnSpace }

    public func purgeDeletedData() async throws {
        try await pool.writeWithoutTransaction { db in
            try db.checkpoint(.truncate)
        }
    }

    private static func insertReceipt(_ db: Database, id: String = newReceiptID(), to recipient: String, from: String, kind: MailboxItem.Kind, messageIds: [String],
                                      now: Int64, expiresAt: Int64) throws {
        do {
            try insertItem(db, to: recipient, id: id, from: from, kind: kind, body: receiptBody(messageIds), acceptedAt: now, expiresAt: expiresAt)
        } catch StoreError.exhausted {
            // The receipt's recipient has no position left: the receipt is dropped, not the
            // confirmation or expiry that made it (those would otherwise fail for good).
        }
    }

    /// A receipt's body: the message ids it is about, one per line.
    public static func receiptBody(_ messageIds: [String]) -> Data { Data(messageIds.joined(separator: "\n").utf8) }

    /// Receipt ids are the relay's own; the prefix keeps them apart from clients' message ids.
    public static func newReceiptID() -> String { "r-" + randomHex(bytes: 12) }

    /// One key per conversation, whichever side sends.
    /// A sender and the recipient they wrote to (directed: a reply is another pair).
    public static func pairKey(_ sender: String, _ recipient: String) -> String { sender + "\u{0}" + recipient }

    /// Queues a merge of the accepted-key log once it has outgrown its threshold; the merge
    /// runs in the commit order like any job, so no request waits for it.
    func mergeAcceptedLogIfFull(now: Int64) {
        guard acceptedLog.claimMerge() else { return }
        _ = committer.submit { [acceptedLog] db in try acceptedLog.merge(db, now: now) }
    }

    /// Idempotency key: a hash, so the relay keeps no readable sender/id list after delivery.
    /// The first 16 bytes of SHA-256 over `sender`, a zero byte and `id` (UTF-8); keys are kept
    /// across restarts, so these bytes must never change. Hashed in place: computed for every message.
    public static func acceptedKey(sender: String, id: String) -> Data {
        var hasher = SHA256()
        var sender = sender
        var id = id
        sender.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        id.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize().withUnsafeBytes { Data($0.prefix(16)) }
    }
}

/// Lowercase hex of `count` random bytes (one receipt id per confirmation batch: kept cheap).
public func randomHex(bytes count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    hex.reserveCapacity(count * 2)
    var word: UInt64 = 0
    for index in 0..<count {
        if index % 8 == 0 { word = generator.next() }
        let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: hex, as: UTF8.self)
}

/// A set of conversation pairs shared by the store's jobs.
public final class KnownPeers: Sendable {
    private let pairs = Mutex<Set<String>>([])
    public init() {}
    public func contains(_ pair: String) -> Bool { pairs.withLock { $0.contains(pair) } }
    public func insert(_ pair: String) { pairs.withLock { _ = $0.insert(pair) } }
}
