import Foundation
import Logging
import ParlaCrypto
import ParlaRelay
import PostgresNIO

/// The relay's tables in PostgreSQL. Steps are applied in order under an advisory lock, so
/// nodes starting together build the schema once; a shipped step is never edited, a change
/// is a new step at the end.
enum PostgresSchema {
    /// `pg_advisory_lock` key for schema changes ("parla\0\0" in ASCII).
    static let migrationLock: Int64 = 0x7061_726C_6100
    /// `pg_try_advisory_xact_lock` key held by the one node sweeping expired items.
    static let expiryLock: Int64 = 0x7061_726C_6101

    static let steps: [String] = [
        """
        CREATE TABLE relay_meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE users (
            name text PRIMARY KEY,
            signing_key bytea NOT NULL,
            agreement_key bytea NOT NULL,
            created_at bigint NOT NULL,
            last_seen bigint,
            last_seq bigint NOT NULL DEFAULT 0,
            pending_items bigint NOT NULL DEFAULT 0,
            pending_bytes bigint NOT NULL DEFAULT 0,
            next_expiry bigint
        );
        CREATE INDEX users_by_next_expiry ON users (next_expiry) WHERE next_expiry IS NOT NULL;
        CREATE TABLE invites (code text PRIMARY KEY, created_at bigint NOT NULL);
        CREATE TABLE mailbox (
            recipient text NOT NULL,
            seq bigint NOT NULL,
            id text NOT NULL,
            sender text NOT NULL,
            kind smallint NOT NULL,
            body bytea NOT NULL,
            accepted_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            grp text,
            PRIMARY KEY (recipient, seq)
        );
        CREATE UNIQUE INDEX mailbox_by_recipient_id ON mailbox (recipient, id);
        CREATE TABLE accepted (key bytea PRIMARY KEY, expires_at bigint NOT NULL);
        CREATE INDEX accepted_by_expiry ON accepted (expires_at);
        CREATE TABLE peers (owner text NOT NULL, peer text NOT NULL, PRIMARY KEY (owner, peer));
        CREATE TABLE signed_prekeys (owner text PRIMARY KEY, id bigint NOT NULL, key bytea NOT NULL, signature bytea NOT NULL, updated_at bigint NOT NULL);
        CREATE TABLE one_time_prekeys (owner text NOT NULL, id bigint NOT NULL, key bytea NOT NULL, PRIMARY KEY (owner, id));
        CREATE TABLE groups (name text PRIMARY KEY, title text NOT NULL, created_at bigint NOT NULL, version bigint NOT NULL DEFAULT 0, change bytea);
        CREATE TABLE group_members (grp text NOT NULL, member text NOT NULL, admin boolean NOT NULL, since bigint NOT NULL, PRIMARY KEY (grp, member));
        CREATE TABLE cluster_nodes (node text PRIMARY KEY, seen_at timestamptz NOT NULL);
        CREATE TABLE cluster_connected (name text PRIMARY KEY, node text NOT NULL);
        """,
    ]

    /// Brings the schema up to date and makes sure the relay has its one identity, shared by every node.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
        do {
            try await connection.query("CREATE TABLE IF NOT EXISTS parla_schema (version integer NOT NULL)", logger: logger)
            var version = 0
            for try await value in try await connection.query("SELECT max(version) FROM parla_schema", logger: logger).decode(Int?.self) {
                version = value ?? 0
            }
            guard version <= steps.count else {
                throw PostgresStoreError.newerSchema(version: version, known: steps.count)
            }
            for (index, step) in steps.enumerated().dropFirst(version) {
                try await connection.query("BEGIN", logger: logger)
                do {
                    // One statement per query (the extended protocol takes no more); steps hold no other semicolons.
                    for statement in step.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO parla_schema (version) VALUES (\(index + 1))", logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
                logger.info("PostgreSQL schema step applied", metadata: ["version": "\(index + 1)"])
            }
            // The first node to start creates the identity; every later one finds it.
            try await connection.query("""
                INSERT INTO relay_meta (key, value) VALUES ('relay_id', \("relay-" + randomHex(bytes: 16))), ('relay_key', \(RelayIdentityKey().privateRaw.base64EncodedString()))
                ON CONFLICT (key) DO NOTHING
                """, logger: logger)
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
    }
}

/// Why the PostgreSQL store cannot serve, in words an operator can act on.
public enum PostgresStoreError: Error, CustomStringConvertible {
    case unreachable(PostgresURL, String)
    case newerSchema(version: Int, known: Int)
    case corrupt(String)
    /// The connection broke during a commit: whether it committed is unknown, and the client's resend settles it.
    case commitInterrupted(String)
    case notRunning

    /// What a PostgreSQL error says, without the library's redacted wrapping.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] { return message }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }

    public var description: String {
        switch self {
        case .unreachable(let url, let reason): "cannot reach PostgreSQL at \(url): \(reason)"
        case .newerSchema(let version, let known):
            "the database's Parla schema is at version \(version), newer than this relay knows (\(known)); run the newer parla-relay"
        case .corrupt(let what): "the relay's data in PostgreSQL is damaged: \(what)"
        case .commitInterrupted(let reason): "the connection to PostgreSQL broke during a commit (\(reason)); the client will send again"
        case .notRunning: "the PostgreSQL store is not running"
        }
    }
}
