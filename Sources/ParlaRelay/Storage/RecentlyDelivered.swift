import Foundation
import Synchronization

/// The idempotency keys of messages delivered live, which never reach the `accepted`
/// table: a sender whose acknowledgement was lost and who sends the message again is
/// acknowledged, not delivered to twice. Bounded (the oldest are forgotten first, about
/// 5 MB when full) and lost on restart; past that, the recipient's client drops the copy
/// by (sender, id), as the protocol requires.
final class RecentlyDelivered: Sendable {
    /// The first 16 bytes of an accepted key (already a hash).
    private struct Key: Hashable {
        var high: UInt64
        var low: UInt64

        init(_ key: Data) {
            (high, low) = key.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        }
    }

    private struct State {
        var keys: Set<Key> = []
        var ring: [Key] = []
        var next = 0
    }

    private let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int = 131_072) {
        self.capacity = capacity
        var initial = State()
        initial.keys.reserveCapacity(capacity)
        initial.ring.reserveCapacity(capacity)
        state = Mutex(initial)
    }

    func contains(_ key: Data) -> Bool {
        let key = Key(key)
        return state.withLock { $0.keys.contains(key) }
    }

    func insert(_ keys: [Data]) {
        let keys = keys.map(Key.init)
        state.withLock { state in
            for key in keys {
                guard state.keys.insert(key).inserted else { continue }
                if state.ring.count < capacity {
                    state.ring.append(key)
                } else {
                    state.keys.remove(state.ring[state.next])
                    state.ring[state.next] = key
                    state.next = (state.next + 1) % capacity
                }
            }
        }
    }
}
