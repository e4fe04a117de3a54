import Foundation
import Synchronization

/// The idempotency keys of messages delivered live, which never reach the `accepted`
/// table, with when each was delivered: a sender whose acknowledgement was lost and who
/// sends the message again is acknowledged as delivered, not delivered to twice. Bounded (the oldest are forgotten first, about
/// 7 MB when full) and lost on restart; past that, the recipient's client drops the copy
/// by (sender, id), as the protocol requires.
final class RecentlyDelivered: Sendable {
    private typealias Key = AcceptedKey

    private struct State {
        var keys: [Key: Int64] = [:]
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

    /// When the message with this key was delivered, if it is remembered.
    func deliveredAt(_ key: Data) -> Int64? {
        let key = Key(key)
        return state.withLock { $0.keys[key] }
    }

    func insert(_ deliveries: [(key: Data, at: Int64)]) {
        let deliveries = deliveries.map { (Key($0.key), $0.at) }
        state.withLock { state in
            for (key, at) in deliveries {
                guard state.keys.updateValue(at, forKey: key) == nil else { continue }
                if state.ring.count < capacity {
                    state.ring.append(key)
                } else {
                    state.keys[state.ring[state.next]] = nil
                    state.ring[state.next] = key
                    state.next = (state.next + 1) % capacity
                }
            }
        }
    }
}
