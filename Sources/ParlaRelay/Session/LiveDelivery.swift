import Crypto
import Foundation
import ParlaProtocol
import Synchronization

/// A message handed from its sender's connection straight to its online recipient's,
/// without being stored. The sender is acknowledged when the recipient confirms it (its
/// client has committed it, so it is durable there) or, if no confirmation comes within
/// the hold time or the recipient goes away, once it has been stored like any other
/// message. Either way nothing is acknowledged before it is durable somewhere.
struct LiveMessage: Sendable {
    var id: String
    var sender: String
    var body: Data
    var acceptedAt: Int64
    var expiresAt: Int64
    /// The sender's pending acknowledgements (more than one when it resent the same id).
    var waiters: [Promise<AcceptOutcome>]
    var heldSince: ContinuousClock.Instant = .now
    /// Place in the recipient's live hand-overs: stored in this order if confirmations are late.
    var order = 0
    /// On the wire to the recipient (false while queued behind its window or stored backlog).
    var sent = false

    var item: MailboxItem {
        MailboxItem(seq: 0, id: id, sender: sender, kind: .message, body: body, acceptedAt: acceptedAt)
    }
}

/// A delivered receipt handed to its online sender without being stored; stored if the
/// sender does not confirm it within the hold time or goes away first.
struct LiveReceipt: Sendable {
    var receipt: RelayFrame.Receipt
    var expiresAt: Int64
    var heldSince: ContinuousClock.Instant = .now
}

/// What a recipient's connection answers when offered a live message.
enum LiveOffer: Sendable, Equatable {
    /// Sent to the recipient; the sender's acknowledgement waits on it.
    case taken
    /// The same message (sender and id) is already held: the new acknowledgement waits with it.
    case joined
    /// The connection is closing, or holds too much already; everything it held live has
    /// been stored first, so the sender stores this one after them.
    case refused
}

/// The (sender, id) keys of messages delivered live, which the store never sees: a sender
/// whose acknowledgement was lost and who sends the message again is acknowledged, not
/// delivered to twice. Bounded and compact (16-byte hashes; the oldest are forgotten
/// first, about 5 MB when full) and lost on restart; past that, the recipient's client drops
/// the copy by (sender, id), as the protocol requires.
final class RecentlyDelivered: Sendable {
    private struct Key: Hashable {
        var high: UInt64
        var low: UInt64

        init(_ sender: String, _ id: String) {
            let digest = SHA256.hash(data: Data((sender + "\u{0}" + id).utf8))
            (high, low) = digest.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
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

    func contains(sender: String, id: String) -> Bool {
        let key = Key(sender, id)
        return state.withLock { $0.keys.contains(key) }
    }

    func insert(_ messages: [LiveMessage]) {
        let keys = messages.map { Key($0.sender, $0.id) }
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
