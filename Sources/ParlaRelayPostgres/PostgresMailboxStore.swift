import Foundation
import Logging
import NIOCore
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A `MailboxStore` in PostgreSQL, shared by several relay nodes. Run it as a service before
/// the relay that uses it: `run()` checks the server, builds the schema and then commits.
/// Every mutating call returns only after its transaction committed; positions in a mailbox
/// come from the recipient's locked row, so they rise in commit order on every node.
public final class PostgresMailboxStore: MailboxStore, Service {
    public let url: PostgresURL
    let client: PostgresClient
    let committer: PostgresCommitter
    let logger: Logger
    private let ready = Promise<RelayIdentity>()
    /// Signing keys already read or registered (a key never changes, an account is never removed).
    let signingKeys = SigningKeys()
    /// Sender/recipient pairs known to be in `peers`, so a busy conversation does not rewrite them.
    let knownPeers = KnownPeers()

    /// How long `run()` keeps trying to reach PostgreSQL at start (it may be starting too).
    public let connectPatience: Duration

    public init(url: PostgresURL, connectPatience: Duration = .seconds(30), logger: Logger) {
        self.url = url
        self.connectPatience = connectPatience
        self.logger = logger
        self.client = PostgresClient(configuration: url.clientConfiguration, backgroundLogger: logger)
        self.committer = PostgresCommitter(client: client, logger: logger)
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.client.run() }
                do {
                    self.ready.resolve(.success(try await self.prepare()))
                } catch {
                    self.ready.resolve(.failure(error))
                    throw error
                }
                group.addTask { await self.committer.run() }
            }
        }
        ready.resolve(.failure(PostgresStoreError.notRunning))
    }

    /// Waits until the store is ready to serve (the schema is built), or throws why it cannot be.
    public func waitUntilReady() async throws {
        _ = try await ready.value()
    }

    /// Reaches the server (retrying while it starts), builds the schema and reads the relay's identity.
    private func prepare() async throws -> RelayIdentity {
        let deadline = ContinuousClock.now + connectPatience
        var connectionID = 0
        while true {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration, id: connectionID, logger: logger)
                do {
                    try await PostgresSchema.migrate(connection, logger: logger)
                    let identity = try await Self.readIdentity(connection, logger: logger)
                    try? await connection.close()
                    logger.info("PostgreSQL store ready", metadata: ["url": "\(url)", "relay": "\(identity.id)"])
                    return identity
                } catch {
                    try? await connection.close()
                    throw error
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] != nil {
                // The server answered and refused (bad password, no such database): waiting does not help.
                throw PostgresStoreError.unreachable(url, PostgresStoreError.reason(error))
            } catch let error as PostgresStoreError {
                throw error
            } catch {
                guard ContinuousClock.now < deadline else { throw PostgresStoreError.unreachable(url, PostgresStoreError.reason(error)) }
                logger.info("waiting for PostgreSQL", metadata: ["url": "\(url)", "error": "\(PostgresStoreError.reason(error))"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    private static func readIdentity(_ connection: PostgresConnection, logger: Logger) async throws -> RelayIdentity {
        var values: [String: String] = [:]
        for try await (key, value) in try await connection.query("SELECT key, value FROM relay_meta", logger: logger).decode((String, String).self) {
            values[key] = value
        }
        guard let id = values["relay_id"] else { throw PostgresStoreError.corrupt("relay identity missing") }
        guard let stored = values["relay_key"], let raw = Data(base64Encoded: stored), let key = try? RelayIdentityKey(privateRaw: raw) else {
            throw PostgresStoreError.corrupt("the relay's signing key is missing or damaged; clients that pinned it will refuse any other")
        }
        return RelayIdentity(id: id, key: key)
    }

    public func relayIdentity() async throws -> RelayIdentity {
        try await ready.value()
    }

    // MARK: - Accounts

    public func register(_ user: UserRecord, invite: String?, registrationOpen: Bool, now: Int64) async throws -> RegisterOutcome {
        let outcome = try await committer.perform { [logger] connection -> RegisterOutcome in
            if try await connection.query("SELECT 1 FROM users WHERE name = \(user.name)", logger: logger).collect().count > 0 {
                return .nameTaken
            }
            if !registrationOpen {
                guard let invite, !invite.isEmpty else { return .inviteRequired }
                let used = try await connection.query("DELETE FROM invites WHERE code = \(invite) RETURNING code", logger: logger).collect()
                if used.isEmpty { return .invalidInvite }
            }
            let inserted = try await connection.query("""
                INSERT INTO users (name, signing_key, agreement_key, created_at) VALUES (\(user.name), \(user.signingKey), \(user.agreementKey), \(now))
                ON CONFLICT (name) DO NOTHING RETURNING name
                """, logger: logger).collect()
            return inserted.isEmpty ? .nameTaken : .registered
        }
        // Only now: an account whose commit failed must not be able to log in.
        if outcome == .registered { signingKeys.remember(user.signingKey, of: user.name) }
        return outcome
    }

    public func user(named name: String) async throws -> UserRecord? {
        for try await (name, signingKey, agreementKey, lastSeen) in try await client.query("""
            SELECT name, signing_key, agreement_key, last_seen FROM users WHERE name = \(name)
            """, logger: logger).decode((String, ByteBuffer, ByteBuffer, Int64?).self) {
            return UserRecord(name: name, signingKey: Data(buffer: signingKey), agreementKey: Data(buffer: agreementKey), lastSeen: lastSeen)
        }
        return nil
    }

    public func signingKey(of name: String) async throws -> Data? {
        if let key = signingKeys.key(of: name) { return key }
        guard let key = try await user(named: name)?.signingKey else { return nil }
        signingKeys.remember(key, of: name)
        return key
    }

    public func createInvite(now: Int64) async throws -> String {
        let code = randomHex(bytes: 12)
        try await committer.perform { [logger] connection in
            _ = try await connection.query("INSERT INTO invites (code, created_at) VALUES (\(code), \(now))", logger: logger)
        }
        return code
    }

    public func setLastSeen(_ user: String, at: Int64) async throws {
        try await committer.perform(locking: .users([user])) { [logger] connection in
            _ = try await connection.query("UPDATE users SET last_seen = \(at) WHERE name = \(user)", logger: logger)
        }
    }

    // MARK: - Prekeys

    public func storePrekeys(user: String, signed: SignedPrekeyRecord?, oneTime: [OneTimePrekeyRecord], replacingOneTime: Bool, limit: Int, now: Int64) async throws -> PrekeyStatus {
        try await committer.perform(locking: .users([user])) { [logger] connection in
            // The owner's row is the lock: two nodes topping up at once cannot pass the limit together.
            try await connection.query("SELECT 1 FROM users WHERE name = \(user) FOR UPDATE", logger: logger)
            if replacingOneTime {
                try await connection.query("DELETE FROM one_time_prekeys WHERE owner = \(user)", logger: logger)
            }
            if let signed {
                try await connection.query("""
                    INSERT INTO signed_prekeys (owner, id, key, signature, updated_at) VALUES (\(user), \(Int64(signed.id)), \(signed.key), \(signed.signature), \(now))
                    ON CONFLICT (owner) DO UPDATE SET id = excluded.id, key = excluded.key, signature = excluded.signature, updated_at = excluded.updated_at
                    """, logger: logger)
            }
            let existing = try await Self.prekeyStatus(connection, user: user, logger: logger).oneTimeLeft
            // Past the limit the newest are dropped: a client cannot fill the relay's disk.
            let added = Array(oneTime.prefix(max(0, limit - existing)))
            if !added.isEmpty {
                let ids = added.map { Int64($0.id) }, keys = added.map { ByteBuffer(data: $0.key) }
                try await connection.query("""
                    INSERT INTO one_time_prekeys (owner, id, key) SELECT \(user), * FROM unnest(\(ids)::bigint[], \(keys)::bytea[]) ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            return try await Self.prekeyStatus(connection, user: user, logger: logger)
        }
    }

    public func takePrekeyBundle(user: String, takingOneTime: Bool) async throws -> PrekeyBundleRecord {
        // Committed before it is sent: a one-time prekey is never handed out twice, on any node.
        try await committer.perform { [logger] connection in
            var signed: SignedPrekeyRecord?
            for try await (id, key, signature) in try await connection.query("""
                SELECT id, key, signature FROM signed_prekeys WHERE owner = \(user)
                """, logger: logger).decode((Int64, ByteBuffer, ByteBuffer).self) {
                signed = SignedPrekeyRecord(id: UInt32(truncatingIfNeeded: id), key: Data(buffer: key), signature: Data(buffer: signature))
            }
            var oneTime: OneTimePrekeyRecord?
            if takingOneTime {
                for try await (id, key) in try await connection.query("""
                    DELETE FROM one_time_prekeys WHERE (owner, id) = (SELECT owner, id FROM one_time_prekeys WHERE owner = \(user) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING id, key
                    """, logger: logger).decode((Int64, ByteBuffer).self) {
                    oneTime = OneTimePrekeyRecord(id: UInt32(truncatingIfNeeded: id), key: Data(buffer: key))
                }
            }
            let left = try await Self.prekeyStatus(connection, user: user, logger: logger).oneTimeLeft
            return PrekeyBundleRecord(signed: signed, oneTime: oneTime, oneTimeLeft: left)
        }
    }

    static func prekeyStatus(_ connection: PostgresConnection, user: String, logger: Logger) async throws -> PrekeyStatus {
        var status = PrekeyStatus(oneTimeLeft: 0, signedID: nil)
        for try await (count, signedID) in try await connection.query("""
            SELECT (SELECT count(*) FROM one_time_prekeys WHERE owner = \(user)), (SELECT id FROM signed_prekeys WHERE owner = \(user))
            """, logger: logger).decode((Int64, Int64?).self) {
            status = PrekeyStatus(oneTimeLeft: Int(count), signedID: signedID.map { UInt32(truncatingIfNeeded: $0) })
        }
        return status
    }

    // MARK: - Contacts

    public func peers(of user: String) async throws -> [String] {
        try await peersLastSeen(of: user).map(\.name)
    }

    public func peersLastSeen(of user: String) async throws -> [(name: String, lastSeen: Int64?)] {
        var peers: [(name: String, lastSeen: Int64?)] = []
        for try await (name, lastSeen) in try await client.query("""
            SELECT p.peer, users.last_seen FROM peers p JOIN peers q ON q.owner = p.peer AND q.peer = p.owner
            JOIN users ON users.name = p.peer WHERE p.owner = \(user) ORDER BY p.peer
            """, logger: logger).decode((String, Int64?).self) {
            peers.append((name, lastSeen))
        }
        return peers
    }

    public func hasWritten(_ sender: String, to recipient: String) async throws -> Bool {
        try await client.query("SELECT 1 FROM peers WHERE owner = \(sender) AND peer = \(recipient)", logger: logger).collect().count > 0
    }

    public func sharesConversation(_ a: String, _ b: String) async throws -> Bool {
        try await client.query("""
            SELECT 1 FROM peers p JOIN peers q ON q.owner = p.peer AND q.peer = p.owner WHERE p.owner = \(a) AND p.peer = \(b)
            """, logger: logger).collect().count > 0
    }

    // MARK: - Maintenance

    public func stats() async throws -> RelayStats {
        for try await (users, messages, receipts, bytes) in try await client.query("""
            SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM mailbox WHERE kind = 0), (SELECT count(*) FROM mailbox WHERE kind <> 0),
                   pg_database_size(current_database())
            """, logger: logger).decode((Int64, Int64, Int64, Int64).self) {
            return RelayStats(users: Int(users), pendingMessages: Int(messages), pendingReceipts: Int(receipts), databaseBytes: bytes)
        }
        throw PostgresStoreError.corrupt("no statistics")
    }

    /// Vacuums the tables that hold delivered items, so their dead rows are pruned and their
    /// space reused soon. PostgreSQL does not zero them: see docs/DEPLOYMENT.md.
    public func purgeDeletedData() async throws {
        try await client.query("VACUUM mailbox, accepted", logger: logger)
    }

    public var commits: Int { committer.commits }

    /// PostgreSQL's disk is the database server's business: it refuses writes itself when full.
    public var isLowOnSpace: Bool { false }
}
