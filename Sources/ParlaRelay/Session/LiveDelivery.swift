import Foundation
import ParlaProtocol

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
    /// Its idempotency key, hashed once on arrival and remembered by the store on confirmation.
    var acceptedKey: Data
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
