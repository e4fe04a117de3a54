import Synchronization

/// Who is online right now, and the way to reach their connection.
final class SessionRegistry: Sendable {
    private struct State {
        var byUser: [String: Session] = [:]
        var all: [ObjectIdentifier: Session] = [:]
        var shuttingDown = false
    }

    private let state = Mutex(State())

    /// Tracks a new connection; false once the relay is shutting down.
    func register(_ session: Session) -> Bool {
        state.withLock { state in
            guard !state.shuttingDown else { return false }
            state.all[ObjectIdentifier(session)] = session
            return true
        }
    }

    /// Makes `session` the user's live connection and returns the one it replaces.
    func bind(_ user: String, to session: Session) -> Session? {
        state.withLock { state in
            let previous = state.byUser[user]
            state.byUser[user] = session
            return previous === session ? nil : previous
        }
    }

    func remove(_ session: Session, user: String?) {
        state.withLock { state in
            state.all[ObjectIdentifier(session)] = nil
            if let user, state.byUser[user] === session {
                state.byUser[user] = nil
            }
        }
    }

    func session(for user: String) -> Session? {
        state.withLock { $0.byUser[user] }
    }

    var connectionCount: Int {
        state.withLock { $0.all.count }
    }

    /// Tells each user's connection, if any, that new items wait in its mailbox.
    func wake(_ users: some Sequence<String>) {
        for user in users {
            if let session = session(for: user) {
                Task { await session.mailboxChanged() }
            }
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
