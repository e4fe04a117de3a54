import Foundation

/// The engine's link to its relay, as shown to the user.
public enum ConnectionState: Sendable, Equatable {
    case offline
    case connecting
    case authenticating
    case online
    /// Waiting after a failure; `retryAt` is when the next attempt starts, `reason` why the last one ended.
    case waitingToRetry(retryAt: Date, reason: String)

}
