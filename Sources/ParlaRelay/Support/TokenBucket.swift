/// Per-connection rate limit: `capacity` frames at once, refilled at `ratePerSecond`.
/// Time comes in as milliseconds so tests can drive it without sleeping.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let ratePerSecond: Double
    private var tokens: Double
    private var lastRefill: Int64

    public init(ratePerSecond: Double, capacity: Double, now: Int64) {
        self.capacity = capacity
        self.ratePerSecond = ratePerSecond
        self.tokens = capacity
        self.lastRefill = now
    }

    /// Takes one token if there is one. A rate of zero or less means unlimited.
    public mutating func take(now: Int64) -> Bool {
        guard ratePerSecond > 0 else { return true }
        if now > lastRefill {
            tokens = min(capacity, tokens + Double(now - lastRefill) * ratePerSecond / 1000)
            lastRefill = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
