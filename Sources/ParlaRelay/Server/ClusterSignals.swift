import Foundation

/// What one relay node tells the other nodes sharing its store: who has news waiting,
/// who logged in, and the ephemeral frames (presence, typing) for users connected elsewhere.
public enum ClusterSignal: Sendable, Equatable, Codable {
    /// New items wait in these users' mailboxes (sent after the commit that stored them).
    case wake([String])
    /// `user` logged in on `node` at `at`: an older connection of theirs on another node closes.
    case login(user: String, node: String, at: Int64)
    /// `user`'s presence, for the listed peers connected to another node.
    case presence(user: String, online: Bool, lastSeen: Int64?, to: [String])
    case typing(from: String, to: String)
    /// Signals may have been missed (the listener reconnected): every session reads its mailbox again.
    case resync
}

/// The channel between the nodes of one relay (see `PostgresClusterSignals`). Best effort by
/// design: the store is the truth, a lost wake-up is made good by the `resync` that follows
/// the gap, and a client's next login reads everything waiting anyway.
public protocol ClusterSignals: Sendable {
    /// This node's name, unique in the cluster.
    var node: String { get }
    /// Tells the other nodes; never throws (a failure is logged and followed by `resync` elsewhere).
    func publish(_ signal: ClusterSignal) async
    /// Hands every other node's signal to `handle` until cancelled, and `.resync` after any gap.
    func listen(_ handle: @escaping @Sendable (ClusterSignal) async -> Void) async throws
    /// Of `users`, those connected to another node right now.
    func connectedElsewhere(_ users: [String]) async -> Set<String>
    /// Records that `user` is connected to this node, or no longer is.
    func setConnected(_ user: String, _ connected: Bool) async
}
