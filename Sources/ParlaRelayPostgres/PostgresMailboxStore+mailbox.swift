import Foundation
import Logging
import NIOCore
import ParlaRelay
import PostgresNIO

/// The mailbox queue: acceptance (exactly once across nodes: the idempotency keys are one
/// table), delivery reads, confirmation and expiry.
extension PostgresMailboxStore {
    /// Identifies a mailbox item by recipient and id.
    static func idKey(_ recipient: String, _ id: String) -> String { SQLiteMailboxStore.pairKey(recipient, id) }

    public func enqueueAccept(id: String, from sender: String, to recipient: String, body: Data, now: Int64, expiresAt: Int64, quota: MailboxQuota) -> PendingOutcome<AcceptOutcome> {
        let pair = SQLiteMailboxStore.pairKey(sender, recipient)
        let request = AcceptRequest(id: id, sender: sender, recipient: recipient, body: body, now: now, expiresAt: expiresAt, quota: quota,
                                    key: SQLiteMailboxStore.acceptedKey(sender: sender, id: id), recordPeers: !knownPeers.contains(pair))
        let promise = Promise<AcceptOutcome>()
        committer.submit(PostgresCommitter.Job(work: .accept(request)) { result in
            promise.resolve(result.flatMap {
                guard let outcome = request.outcome.withLock({ $0 }) else { return .failure(PostgresStoreError.corrupt("an acceptance gave no outcome")) }
                return .success(outcome)
            })
        })
        return PendingOutcome { [knownPeers] in
            let outcome = try await promise.value()
            if outcome == .stored { knownPeers.insert(pair) }
            return outcome
        }
    }

    /// Not called in practice (see `mightHaveAccepted`); records who talks to whom.
    public func recordLiveDeliveries(_ deliveries: [LiveDeliveryRecord]) {
        let pairs = deliveries.filter { !knownPeers.contains(SQLiteMailboxStore.pairKey($0.sender, $0.recipient)) }
        guard !pairs.isEmpty else { return }
        let owners = pairs.map(\.sender), peers = pairs.map(\.recipient)
        Task { [committer, logger] in
            try? await committer.perform { connection in
                _ = try await connection.query("""
                    INSERT INTO peers (owner, peer) SELECT * FROM unnest(\(owners)::text[], \(peers)::text[]) ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
        }
    }

    /// Always "maybe": another node may have taken the key, and only the database knows. Every
    /// message then takes the stored route, whose check in the shared table decides.
    public func mightHaveAccepted(key: Data) -> Bool { true }

    public func acceptReadReceipt(id: String, from reader: String, to sender: String, messageIds: [String], now: Int64, expiresAt: Int64, quota: MailboxQuota) async throws -> AcceptOutcome {
        let key = SQLiteMailboxStore.acceptedKey(sender: reader, id: id)
        return try await committer.perform(locking: .users([sender])) { [logger] connection -> AcceptOutcome in
            let body = SQLiteMailboxStore.receiptBody(messageIds)
            guard let room = try await Self.room(connection, of: sender, from: reader, adding: body.count, quota: quota, logger: logger) else {
                return .unknownRecipient
            }
            if try await connection.query("SELECT 1 FROM accepted WHERE key = \(ByteBuffer(data: key))", logger: logger).collect().count > 0 {
                return .duplicate
            }
            switch room {
            case .room: break
            case .full: return .mailboxFull
            case .senderShareUsed: return .senderShareUsed
            }
            try await connection.query("INSERT INTO accepted (key, expires_at) VALUES (\(ByteBuffer(data: key)), \(expiresAt))", logger: logger)
            try await Self.insertItem(connection, to: sender, id: SQLiteMailboxStore.newReceiptID(), from: reader, kind: .read, body: body, acceptedAt: now,
                                      expiresAt: expiresAt, logger: logger)
            return .stored
        }
    }

    public func pending(for user: String, after seq: Int64, limit: Int, now: Int64) async throws -> [MailboxItem] {
        var items: [MailboxItem] = []
        let rows = try await client.query("""
            SELECT seq, id, sender, kind, body, accepted_at, grp FROM mailbox
            WHERE recipient = \(user) AND seq > \(seq) AND expires_at > \(now) ORDER BY seq LIMIT \(limit)
            """, logger: logger)
        for try await (seq, id, sender, kind, body, acceptedAt, group) in rows.decode((Int64, String, String, Int16, ByteBuffer, Int64, String?).self) {
            guard let kind = MailboxItem.Kind(rawValue: Int(kind)) else { throw PostgresStoreError.corrupt("unknown item kind \(kind)") }
            items.append(MailboxItem(seq: seq, id: id, sender: sender, kind: kind, body: Data(buffer: body), acceptedAt: acceptedAt, group: group))
        }
        return items
    }

    public func enqueueConfirm(user: String, items: [ConfirmedItem], now: Int64, receiptExpiresAt: Int64) -> PendingOutcome<ConfirmOutcome> {
        let positions = items.compactMap(\.seq)
        let ids = items.filter { $0.seq == nil }.map(\.id)
        // The user's row, and the rows of the senders who get a receipt.
        let locks = PostgresCommitter.Locks.found { [logger] connection in
            var names = [user]
            for try await sender in try await connection.query("""
                SELECT DISTINCT sender FROM mailbox WHERE recipient = \(user) AND (seq = ANY(\(positions)) OR id = ANY(\(ids))) AND kind = 0
                """, logger: logger).decode(String.self) {
                names.append(sender)
            }
            return names
        }
        return committer.enqueue(locking: locks) { [logger] connection -> ConfirmOutcome in
            var deliveredBySender: [String: [String]] = [:]
            var senderOrder: [String] = []
            var deletedItems: Int64 = 0, deletedBytes: Int64 = 0, deletedMessages = 0
            for try await (id, sender, kind, size) in try await connection.query("""
                DELETE FROM mailbox WHERE recipient = \(user) AND (seq = ANY(\(positions)) OR id = ANY(\(ids)))
                RETURNING id, sender, kind, length(body)::bigint
                """, logger: logger).decode((String, String, Int16, Int64).self) {
                // Every kind counts against the quota; only messages are receipted.
                deletedItems += 1
                deletedBytes += size
                guard kind == Int16(MailboxItem.Kind.message.rawValue) else { continue }
                deletedMessages += 1
                if deliveredBySender[sender] == nil { senderOrder.append(sender) }
                deliveredBySender[sender, default: []].append(id)
            }
            if deletedItems > 0 {
                try await connection.query("""
                    UPDATE users SET pending_items = pending_items - \(deletedItems), pending_bytes = pending_bytes - \(deletedBytes) WHERE name = \(user)
                    """, logger: logger)
            }
            for sender in senderOrder {
                try await Self.insertItem(connection, to: sender, id: SQLiteMailboxStore.newReceiptID(), from: user, kind: .delivered,
                                          body: SQLiteMailboxStore.receiptBody(deliveredBySender[sender]!), acceptedAt: now, expiresAt: receiptExpiresAt, logger: logger)
            }
            return ConfirmOutcome(notified: senderOrder, deletedMessages: deletedMessages)
        }
    }

    public func expire(now: Int64, receiptExpiresAt: Int64) async throws -> ExpiryOutcome {
        let locks = PostgresCommitter.Locks.found { [logger] connection in
            var names: [String] = []
            for try await name in try await connection.query("""
                SELECT name FROM users WHERE next_expiry <= \(now)
                UNION SELECT DISTINCT m.sender FROM users u JOIN mailbox m ON m.recipient = u.name WHERE u.next_expiry <= \(now) AND m.expires_at <= \(now)
                """, logger: logger).decode(String.self) {
                names.append(name)
            }
            return names
        }
        return try await committer.perform(locking: locks) { [logger] connection -> ExpiryOutcome in
            // One node sweeps at a time; the others find the lock taken and leave it to that one.
            let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(\(PostgresSchema.expiryLock))", logger: logger).collect()
            guard try locked.first?.decode(Bool.self) == true else { return ExpiryOutcome(expiredMessages: 0, notified: []) }
            var due: [String] = []
            for try await name in try await connection.query("SELECT name FROM users WHERE next_expiry <= \(now) ORDER BY name FOR UPDATE", logger: logger).decode(String.self) {
                due.append(name)
            }
            var expiredBySenderAndRecipient: [String: [String: [String]]] = [:]
            var expired = 0
            for recipient in due {
                var items: Int64 = 0, bytes: Int64 = 0
                for try await (id, sender, kind, size) in try await connection.query("""
                    DELETE FROM mailbox WHERE recipient = \(recipient) AND expires_at <= \(now) RETURNING id, sender, kind, length(body)::bigint
                    """, logger: logger).decode((String, String, Int16, Int64).self) {
                    items += 1
                    bytes += size
                    guard kind == Int16(MailboxItem.Kind.message.rawValue) else { continue }
                    expired += 1
                    expiredBySenderAndRecipient[sender, default: [:]][recipient, default: []].append(id)
                }
                try await connection.query("""
                    UPDATE users SET pending_items = pending_items - \(items), pending_bytes = pending_bytes - \(bytes),
                        next_expiry = (SELECT min(expires_at) FROM mailbox WHERE recipient = \(recipient)) WHERE name = \(recipient)
                    """, logger: logger)
            }
            for (sender, byRecipient) in expiredBySenderAndRecipient.sorted(by: { $0.key < $1.key }) {
                for (recipient, ids) in byRecipient.sorted(by: { $0.key < $1.key }) {
                    try await Self.insertItem(connection, to: sender, id: SQLiteMailboxStore.newReceiptID(), from: recipient, kind: .expired,
                                              body: SQLiteMailboxStore.receiptBody(ids), acceptedAt: now, expiresAt: receiptExpiresAt, logger: logger)
                }
            }
            try await connection.query("DELETE FROM accepted WHERE expires_at <= \(now)", logger: logger)
            return ExpiryOutcome(expiredMessages: expired, notified: expiredBySenderAndRecipient.keys.sorted())
        }
    }

    /// Appends an item to `recipient`'s mailbox at the next position of its locked row. False
    /// when the recipient already has an item with this id (nothing is written then). A
    /// recipient without an account gets nothing.
    @discardableResult
    static func insertItem(_ connection: PostgresConnection, to recipient: String, id: String, from sender: String, kind: MailboxItem.Kind, body: Data,
                           acceptedAt: Int64, expiresAt: Int64, group: String? = nil, logger: Logger) async throws -> Bool {
        let inserted = try await connection.query("""
            WITH slot AS (
                UPDATE users SET last_seq = last_seq + 1, pending_items = pending_items + 1, pending_bytes = pending_bytes + \(Int64(body.count)),
                    next_expiry = least(coalesce(next_expiry, \(expiresAt)), \(expiresAt))
                WHERE name = \(recipient) AND NOT EXISTS (SELECT 1 FROM mailbox WHERE recipient = \(recipient) AND id = \(id))
                RETURNING last_seq
            )
            INSERT INTO mailbox (recipient, seq, id, sender, kind, body, accepted_at, expires_at, grp)
            SELECT \(recipient), last_seq, \(id), \(sender), \(Int16(kind.rawValue)), \(ByteBuffer(data: body)), \(acceptedAt), \(expiresAt), \(group) FROM slot
            RETURNING seq
            """, logger: logger).collect()
        return !inserted.isEmpty
    }

    /// Whether `recipient`'s mailbox takes `size` more bytes from `sender`; nil without such an account.
    static func room(_ connection: PostgresConnection, of recipient: String, from sender: String, adding size: Int, quota: MailboxQuota,
                     logger: Logger) async throws -> MailboxQuota.Room? {
        var counters: (items: Int64, bytes: Int64)?
        for try await row in try await connection.query("""
            SELECT pending_items, pending_bytes FROM users WHERE name = \(recipient) FOR UPDATE
            """, logger: logger).decode((Int64, Int64).self) {
            counters = row
        }
        guard let counters else { return nil }
        if let room = quota.room(items: counters.items, bytes: counters.bytes, adding: size) { return room }
        for try await (items, bytes) in try await connection.query("""
            SELECT count(*), coalesce(sum(length(body)), 0)::bigint FROM mailbox WHERE recipient = \(recipient) AND sender = \(sender)
            """, logger: logger).decode((Int64, Int64).self) {
            return quota.room(senderItems: items, senderBytes: bytes, adding: size)
        }
        return .room
    }
}
