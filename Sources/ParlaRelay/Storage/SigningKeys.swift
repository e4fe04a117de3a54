import Foundation
import Synchronization

/// Users' signing keys, kept in memory so a login checks its signature without a database
/// read (the read was a quarter of the relay's work per login). A key never changes and an
/// account is never removed, so an entry cannot go stale; one is added only after the
/// registration that created it committed, or when a read found it. Bounded: past `limit`
/// entries, further keys are simply read from the database each time.
public final class SigningKeys: Sendable {
    public static let defaultLimit = 1 << 18
    private let keys = Mutex<[String: Data]>([:])
    private let limit: Int

    public init(limit: Int = SigningKeys.defaultLimit) {
        self.limit = limit
    }

    public func key(of user: String) -> Data? {
        keys.withLock { $0[user] }
    }

    public func remember(_ key: Data, of user: String) {
        keys.withLock { keys in
            guard keys.count < limit || keys[user] != nil else { return }
            keys[user] = key
        }
    }

    var count: Int { keys.withLock { $0.count } }
}
