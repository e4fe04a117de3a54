import Synchronization

/// Who is online right now, and the way to reach their connection; with a cluster, also
/// the way to reach users connected to another node.
final class SessionRegistry: Sendable {
    private struct State {
        var byUser: [String: Session] = [:]
        /// When each user's connection here logged in (a later login elsewhere replaces it).
        var loginAt: [String: Int64] = [:]
        var all: [ObjectIdentifier: Session] = [:]
        var shuttingDown = false
    }

    private let state = Mutex(State())
    let cluster: (any ClusterSignals)?

    init(cluster: (any ClusterSignals)? = nil) {
        self.cluster = cluster
    }

    /// Tracks a new connection; false once the relay is shutting down.
    func register(_ session: Session) -> Bool {
        state.withLock { state in
            guard !state.shuttingDown else { return false }
            state.all[ObjectIdentifier(session)] = session
            return true
        }
    }

    /// Makes `session` the user's live connection and returns the one it replaces.
    func bind(_ user: String, to session: Session, at: Int64 = 0) -> Session? {
        state.withLock { state in
            let previous = state.byUser[user]
            state.byUser[user] = session
            state.loginAt[user] = at
            return previous === session ? nil : previous
        }
    }

    /// Forgets the connection; true if it was the user's live one.
    @discardableResult
    func remove(_ session: Session, user: String?) -> Bool {
        state.withLock { state in
            state.all[ObjectIdentifier(session)] = nil
            if let user, state.byUser[user] === session {
                state.byUser[user] = nil
                state.loginAt[user] = nil
                return true
            }
            return false
        }
    }

    func session(for user: String) -> Session? {
        state.withLock { $0.byUser[user] }
    }

    var connectionCount: Int {
        state.withLock { $0.all.count }
    }

    /// Tells each user's connection, here or on another node, that new items wait in its mailbox.
    func wake(_ users: some Sequence<String>) {
        var elsewhere: [String] = []
        for user in users {
            if let session = session(for: user) {
                Task { await session.mailboxChanged() }
            } else {
                elsewhere.append(user)
            }
        }
        wakeElsewhere(elsewhere)
    }

    /// Wakes users not connected here on the other nodes (nothing without a cluster).
    func wakeElsewhere(_ users: [String]) {
        guard let cluster, !users.isEmpty else { return }
        Task { await cluster.publish(.wake(users)) }
    }

    /// Acts on another node's signal for the sessions connected here.
    func handle(_ signal: ClusterSignal) async {
        switch signal {
        case .wake(let users):
            for user in users { await session(for: user)?.mailboxChanged() }
        case .login(let user, let node, let at):
            // The later login wins; at the same instant, the node with the greater name.
            let replaced: Session? = state.withLock { state in
                guard let session = state.byUser[user], let since = state.loginAt[user], (since, cluster?.node ?? "") < (at, node) else { return nil }
                // Unbound at once: news for the user now goes to the other node, not to this closing connection.
                state.byUser[user] = nil
                state.loginAt[user] = nil
                return session
            }
            await replaced?.replaced()
        case .presence(let user, let online, let lastSeen, let peers):
            for peer in peers {
                await session(for: peer)?.deliverEphemeral(.presence(.init(user: user, online: online, lastSeen: lastSeen)))
            }
        case .typing(let from, let to):
            await session(for: to)?.deliverEphemeral(.typing(from: from))
        case .resync:
            for session in state.withLock({ Array($0.byUser.values) }) { await session.mailboxChanged() }
        }
    }

    /// Stops new connections and returns the open ones so they can be closed.
    func beginShutdown() -> [Session] {
        state.withLock { state in
            state.shuttingDown = true
            return Array(state.all.values)
        }
    }
}
