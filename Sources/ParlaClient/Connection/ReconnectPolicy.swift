/// Exponential backoff with full jitter: the n-th retry waits a random time in
/// [0, min(cap, base·2ⁿ)]. A connection that stayed up for `stableAfter` resets it.
public struct ReconnectPolicy: Sendable, Equatable {
    public var base: Duration = .milliseconds(500)
    public var cap: Duration = .seconds(30)
    public var stableAfter: Duration = .seconds(20)
    public private(set) var failures = 0

    public init(base: Duration = .milliseconds(500), cap: Duration = .seconds(30), stableAfter: Duration = .seconds(20)) {
        self.base = base
        self.cap = cap
        self.stableAfter = stableAfter
    }

    /// The longest the next wait may be.
    public var currentBound: Duration {
        let exponent = min(failures, 30)
        let grown = base * (1 << exponent)
        return min(cap, grown)
    }

    /// Called when a connection attempt ends; `onlineFor` is how long it was
    /// logged in (nil if it never got there). Returns how long to wait.
    public mutating func nextDelay(onlineFor: Duration?, random: (Double) -> Double = { Double.random(in: 0...$0) }) -> Duration {
        if let onlineFor, onlineFor >= stableAfter {
            failures = 0
        }
        let bound = currentBound
        failures += 1
        let seconds = random(Self.seconds(bound))
        return .milliseconds(Int64(max(0, seconds) * 1000))
    }

    /// A manual "retry now" or a stable connection starts over.
    public mutating func reset() {
        failures = 0
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, attos) = d.components
        return Double(s) + Double(attos) / 1e18
    }
}
