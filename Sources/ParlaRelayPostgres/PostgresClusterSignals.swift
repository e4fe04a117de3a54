import Foundation
import Logging
import ParlaRelay
import PostgresNIO

/// Signals between the relay nodes sharing one PostgreSQL: `NOTIFY` on one channel, heard on a
/// connection of each node's own (`LISTEN` holds it), so no other broker is needed. Who is
/// connected where is a table; a node that stops beating its heart for `staleAfter` counts
/// as gone, so a node killed with its users still listed does not hide them.
public final class PostgresClusterSignals: ClusterSignals {
    public let node: String
    private let store: PostgresMailboxStore
    private let logger: Logger
    static let channel = "parla_signals"
    /// NOTIFY refuses payloads of 8000 bytes or more; longer lists go in several signals.
    static let maxPayload = 7_000
    /// How often this node records that it is alive.
    let heartbeat: Duration
    /// How long without a heartbeat before a node's users count as not connected.
    let staleAfter: Duration

    public init(store: PostgresMailboxStore, node: String, heartbeat: Duration = .seconds(5), staleAfter: Duration = .seconds(15), logger: Logger) {
        self.store = store
        self.heartbeat = heartbeat
        self.staleAfter = staleAfter
        self.node = node
        self.logger = logger
    }

    private struct Envelope: Codable {
        var node: String
        var signal: ClusterSignal
    }

    public func publish(_ signal: ClusterSignal) async {
        for part in Self.split(signal) {
            do {
                let payload = String(decoding: try JSONEncoder().encode(Envelope(node: node, signal: part)), as: UTF8.self)
                try await store.client.query("SELECT pg_notify(\(Self.channel), \(payload))", logger: logger)
                logger.debug("signal sent", metadata: ["signal": "\(payload)"])
            } catch {
                // The other nodes' listeners will have lost their connection too, and resync.
                logger.warning("cannot signal the other relay nodes", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Splits a signal whose payload would be too long for one NOTIFY.
    static func split(_ signal: ClusterSignal) -> [ClusterSignal] {
        let size = (try? JSONEncoder().encode(Envelope(node: "", signal: signal)).count) ?? 0
        guard size > maxPayload - 200 else { return [signal] }
        switch signal {
        case .wake(let users) where users.count > 1:
            let half = users.count / 2
            return split(.wake(Array(users[..<half]))) + split(.wake(Array(users[half...])))
        case .presence(let user, let online, let lastSeen, let peers) where peers.count > 1:
            let half = peers.count / 2
            return split(.presence(user: user, online: online, lastSeen: lastSeen, to: Array(peers[..<half])))
                + split(.presence(user: user, online: online, lastSeen: lastSeen, to: Array(peers[half...])))
        default:
            return [signal]
        }
    }

    public func listen(_ handle: @escaping @Sendable (ClusterSignal) async -> Void) async throws {
        try await store.waitUntilReady()
        // Users listed here by an earlier run of this node are not connected any more.
        _ = try? await store.client.query("DELETE FROM cluster_connected WHERE node = \(node)", logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.beatHeart() }
            group.addTask { try await self.hear(handle) }
        }
    }

    private func beatHeart() async throws {
        while !Task.isCancelled {
            do {
                try await store.client.query("""
                    INSERT INTO cluster_nodes (node, seen_at) VALUES (\(node), now()) ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at
                    """, logger: logger)
            } catch {
                logger.warning("cannot record this node's heartbeat", metadata: ["error": "\(String(reflecting: error))"])
            }
            try await Task.sleep(for: heartbeat)
        }
    }

    private func hear(_ handle: @escaping @Sendable (ClusterSignal) async -> Void) async throws {
        var connectionID = 0
        var heardBefore = false
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: try store.url.connectionConfiguration, id: connectionID, logger: logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    // Anything sent while no one listened here is read from the mailboxes again.
                    if heardBefore { await handle(.resync) }
                    heardBefore = true
                    for try await notification in notifications {
                        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(notification.payload.utf8)) else {
                            logger.warning("ignoring a signal this node cannot read", metadata: ["payload": "\(notification.payload.prefix(200))"])
                            continue
                        }
                        guard envelope.node != node else { continue }
                        logger.debug("signal heard", metadata: ["signal": "\(notification.payload)"])
                        await handle(envelope.signal)
                    }
                }
            } catch where !Task.isCancelled {
                logger.warning("lost the signal connection to PostgreSQL; reconnecting", metadata: ["error": "\(String(reflecting: error))"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    public func connectedElsewhere(_ users: [String]) async -> Set<String> {
        guard !users.isEmpty else { return [] }
        let stale = "\(staleAfter.components.seconds) seconds"
        do {
            var found = Set<String>()
            for try await name in try await store.client.query("""
                SELECT c.name FROM cluster_connected c JOIN cluster_nodes n ON n.node = c.node
                WHERE c.name = ANY(\(users)) AND c.node <> \(node) AND n.seen_at > now() - \(stale)::interval
                """, logger: logger).decode(String.self) {
                found.insert(name)
            }
            return found
        } catch {
            logger.warning("cannot read who is connected to the other nodes", metadata: ["error": "\(String(reflecting: error))"])
            return []
        }
    }

    public func setConnected(_ user: String, _ connected: Bool) async {
        do {
            if connected {
                try await store.client.query("""
                    INSERT INTO cluster_connected (name, node) VALUES (\(user), \(node)) ON CONFLICT (name) DO UPDATE SET node = excluded.node
                    """, logger: logger)
            } else {
                try await store.client.query("DELETE FROM cluster_connected WHERE name = \(user) AND node = \(node)", logger: logger)
            }
        } catch {
            logger.warning("cannot record who is connected here", metadata: ["user": "\(user)", "error": "\(String(reflecting: error))"])
        }
    }
}
