import Foundation
import Logging
import NIOCore
import ParlaRelay
import PostgresNIO
import Synchronization

/// One message to store, decided together with the others of its batch: the recipients'
/// rows are locked once (in name order, so nodes never deadlock on them), and the rows of
/// every accepted message go in with one array insert per table.
final class AcceptRequest: Sendable {
    let id: String
    let sender: String
    let recipient: String
    let body: Data
    let now: Int64
    let expiresAt: Int64
    let quota: MailboxQuota
    let key: Data
    let recordPeers: Bool
    /// Decided in the transaction; released once it committed.
    let outcome = Mutex<AcceptOutcome?>(nil)

    init(id: String, sender: String, recipient: String, body: Data, now: Int64, expiresAt: Int64, quota: MailboxQuota, key: Data, recordPeers: Bool) {
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.body = body
        self.now = now
        self.expiresAt = expiresAt
        self.quota = quota
        self.key = key
        self.recordPeers = recordPeers
    }

    private struct Mailbox {
        var lastSeq: Int64
        var items: Int64
        var bytes: Int64
        var nextExpiry: Int64?
        var changed = false
    }

    static func write(_ requests: [AcceptRequest], on connection: PostgresConnection, logger: Logger) async throws {
        let recipients = Array(Set(requests.map(\.recipient))).sorted()
        var mailboxes: [String: Mailbox] = [:]
        let locked = try await connection.query("""
            SELECT name, last_seq, pending_items, pending_bytes FROM users WHERE name = ANY(\(recipients)) ORDER BY name FOR UPDATE
            """, logger: logger)
        for try await (name, lastSeq, items, bytes) in locked.decode((String, Int64, Int64, Int64).self) {
            mailboxes[name] = Mailbox(lastSeq: lastSeq, items: items, bytes: bytes)
        }
        var taken = Set<Data>()
        let keys = requests.map { ByteBuffer(data: $0.key) }
        for try await key in try await connection.query("SELECT key FROM accepted WHERE key = ANY(\(keys))", logger: logger).decode(ByteBuffer.self) {
            taken.insert(Data(buffer: key))
        }
        var usedIDs = Set<String>()
        let (idRecipients, ids) = (requests.map(\.recipient), requests.map(\.id))
        for try await (recipient, id) in try await connection.query("""
            SELECT recipient, id FROM mailbox WHERE (recipient, id) IN (SELECT * FROM unnest(\(idRecipients)::text[], \(ids)::text[]))
            """, logger: logger).decode((String, String).self) {
            usedIDs.insert(PostgresMailboxStore.idKey(recipient, id))
        }

        var rows = MailboxRows()
        var acceptedKeys: [ByteBuffer] = [], acceptedUntil: [Int64] = []
        var peerOwners: [String] = [], peerPeers: [String] = []
        /// What each sender has added to each mailbox in this batch (for the sender's share).
        var addedBySender: [String: (items: Int64, bytes: Int64)] = [:]
        for request in requests {
            var outcome: AcceptOutcome?
            defer { request.outcome.withLock { $0 = outcome } }
            guard var mailbox = mailboxes[request.recipient] else {
                outcome = .unknownRecipient
                continue
            }
            if taken.contains(request.key) {
                outcome = .duplicate
                continue
            }
            let pair = SQLiteMailboxStore.pairKey(request.sender, request.recipient)
            var room = request.quota.room(items: mailbox.items, bytes: mailbox.bytes, adding: request.body.count)
            if room == nil {
                var held = (items: Int64(0), bytes: Int64(0))
                for try await counted in try await connection.query("""
                    SELECT count(*), coalesce(sum(length(body)), 0)::bigint FROM mailbox WHERE recipient = \(request.recipient) AND sender = \(request.sender)
                    """, logger: logger).decode((Int64, Int64).self) {
                    held = counted
                }
                let added = addedBySender[pair] ?? (0, 0)
                room = request.quota.room(senderItems: held.items + added.items, senderBytes: held.bytes + added.bytes, adding: request.body.count)
            }
            switch room {
            case .full: outcome = .mailboxFull; continue
            case .senderShareUsed: outcome = .senderShareUsed; continue
            case .room, nil: break
            }
            let idKey = PostgresMailboxStore.idKey(request.recipient, request.id)
            guard usedIDs.insert(idKey).inserted else {
                outcome = .idConflict
                continue
            }
            taken.insert(request.key)
            mailbox.lastSeq += 1
            mailbox.items += 1
            mailbox.bytes += Int64(request.body.count)
            mailbox.nextExpiry = min(mailbox.nextExpiry ?? request.expiresAt, request.expiresAt)
            mailbox.changed = true
            mailboxes[request.recipient] = mailbox
            addedBySender[pair, default: (0, 0)].items += 1
            addedBySender[pair, default: (0, 0)].bytes += Int64(request.body.count)
            rows.append(recipient: request.recipient, seq: mailbox.lastSeq, id: request.id, sender: request.sender, kind: .message, body: request.body,
                        acceptedAt: request.now, expiresAt: request.expiresAt, group: nil)
            acceptedKeys.append(ByteBuffer(data: request.key))
            acceptedUntil.append(request.expiresAt)
            if request.recordPeers {
                peerOwners.append(request.sender)
                peerPeers.append(request.recipient)
            }
            outcome = .stored
        }
        guard !rows.isEmpty else { return }
        try await rows.insert(on: connection, logger: logger)
        try await connection.query("""
            INSERT INTO accepted (key, expires_at) SELECT * FROM unnest(\(acceptedKeys)::bytea[], \(acceptedUntil)::bigint[]) ON CONFLICT (key) DO NOTHING
            """, logger: logger)
        let changed = mailboxes.filter(\.value.changed)
        let names = Array(changed.keys)
        let lastSeqs = names.map { changed[$0]!.lastSeq }, items = names.map { changed[$0]!.items }
        let bytes = names.map { changed[$0]!.bytes }, expiries = names.map { changed[$0]!.nextExpiry ?? Int64.max }
        try await connection.query("""
            UPDATE users SET last_seq = u.last_seq, pending_items = u.items, pending_bytes = u.bytes,
                next_expiry = least(coalesce(users.next_expiry, u.expiry), u.expiry)
            FROM unnest(\(names)::text[], \(lastSeqs)::bigint[], \(items)::bigint[], \(bytes)::bigint[], \(expiries)::bigint[]) AS u(name, last_seq, items, bytes, expiry)
            WHERE users.name = u.name
            """, logger: logger)
        if !peerOwners.isEmpty {
            try await connection.query("""
                INSERT INTO peers (owner, peer) SELECT * FROM unnest(\(peerOwners)::text[], \(peerPeers)::text[]) ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }
}

/// Mailbox rows gathered for one array insert.
struct MailboxRows {
    private var recipients: [String] = [], seqs: [Int64] = [], ids: [String] = [], senders: [String] = [], kinds: [Int16] = []
    private var bodies: [ByteBuffer] = [], acceptedAts: [Int64] = [], expiresAts: [Int64] = [], groups: [String] = []

    var isEmpty: Bool { recipients.isEmpty }

    mutating func append(recipient: String, seq: Int64, id: String, sender: String, kind: MailboxItem.Kind, body: Data, acceptedAt: Int64, expiresAt: Int64, group: String?) {
        recipients.append(recipient)
        seqs.append(seq)
        ids.append(id)
        senders.append(sender)
        kinds.append(Int16(kind.rawValue))
        bodies.append(ByteBuffer(data: body))
        acceptedAts.append(acceptedAt)
        expiresAts.append(expiresAt)
        // Arrays of text cannot hold NULL here: the empty name stands for "no group" (group names are never empty).
        groups.append(group ?? "")
    }

    func insert(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO mailbox (recipient, seq, id, sender, kind, body, accepted_at, expires_at, grp)
            SELECT r, s, i, f, k, b, a, e, nullif(g, '') FROM unnest(\(recipients)::text[], \(seqs)::bigint[], \(ids)::text[], \(senders)::text[],
                \(kinds)::smallint[], \(bodies)::bytea[], \(acceptedAts)::bigint[], \(expiresAts)::bigint[], \(groups)::text[]) AS t(r, s, i, f, k, b, a, e, g)
            """, logger: logger)
    }
}

extension ByteBuffer {
    init(data: Data) {
        self.init(bytes: data)
    }
}

extension Data {
    init(buffer: ByteBuffer) {
        self.init(buffer.readableBytesView)
    }
}
