import Synchronization

/// How many one-time prekeys each user may take from others. Without a limit one account
/// could empty everyone's supply (each later first message then starts with less forward
/// secrecy). A requester gets one of a given user's one-time prekeys per hour and at most
/// `maxPerHour` in all; past that the bundle comes without one (X3DH still works).
final class PrekeyFetchLimiter: Sendable {
    static let window: Int64 = 3_600_000
    let maxPerHour: Int

    private struct Taken {
        var windowStart: Int64
        var count: Int
        /// When each user's one-time prekey was last taken.
        var lastFrom: [String: Int64]
    }

    private let taken = Mutex<[String: Taken]>([:])

    init(maxPerHour: Int = 100) {
        self.maxPerHour = maxPerHour
    }

    /// Counts `requester` taking one of `owner`'s one-time prekeys now, or refuses it.
    func mayTake(requester: String, from owner: String, now: Int64) -> Bool {
        taken.withLock { taken in
            var entry = taken[requester] ?? Taken(windowStart: now, count: 0, lastFrom: [:])
            if now - entry.windowStart >= Self.window {
                entry = Taken(windowStart: now, count: 0, lastFrom: entry.lastFrom.filter { now - $0.value < Self.window })
            }
            if let last = entry.lastFrom[owner], now - last < Self.window { return false }
            guard entry.count < maxPerHour else { return false }
            entry.count += 1
            entry.lastFrom[owner] = now
            taken[requester] = entry
            // Requesters idle for an hour are forgotten, so the table stays small.
            if taken.count > 10_000 { taken = taken.filter { now - $0.value.windowStart < Self.window } }
            return true
        }
    }
}
