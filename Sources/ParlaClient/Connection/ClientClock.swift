import Foundation

/// Time as the engine sees it. Injected so that backoff and stability windows are
/// tested without real sleeping.
public protocol ClientClock: Sendable {
    /// Wall-clock time, for message timestamps and signed login statements.
    func now() -> Date
    /// Monotonic time since an arbitrary origin, for measuring intervals.
    func uptime() -> Duration
    func sleep(for duration: Duration) async throws
}

public struct SystemClock: ClientClock {
    private let origin = ContinuousClock.now
    public init() {}
    public func now() -> Date { Date() }
    public func uptime() -> Duration { ContinuousClock.now - origin }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// A clock that moves only when told to; sleepers wake when it passes their deadline.
public final class ManualClock: ClientClock, @unchecked Sendable {
    private let lock = NSLock()
    private var elapsed: Duration = .zero
    private let start: Date
    private var sleepers: [(id: Int, deadline: Duration, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextSleeper = 0
    /// Sleepers cancelled before they were registered (the handler ran first).
    private var cancelledEarly: Set<Int> = []

    public init(start: Date = Date()) {
        self.start = start
    }

    public func now() -> Date { lock.withLock { start.addingTimeInterval(Self.seconds(elapsed)) } }
    public func uptime() -> Duration { lock.withLock { elapsed } }

    /// Durations sleepers are currently waiting for, measured from now.
    public var pendingSleeps: [Duration] {
        lock.withLock { sleepers.map { $0.deadline - elapsed } }
    }

    public func sleep(for duration: Duration) async throws {
        let id: Int = lock.withLock {
            nextSleeper += 1
            return nextSleeper
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now: Result<Void, any Error>? = lock.withLock {
                    if cancelledEarly.remove(id) != nil { return .failure(CancellationError()) }
                    if duration <= .zero { return .success(()) }
                    sleepers.append((id, elapsed + duration, continuation))
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            // Only this sleeper wakes: waking them all (as this clock once did) ended an engine's
            // backoff wait whenever some other wait on the clock was cancelled.
            let cancelled: CheckedContinuation<Void, any Error>? = lock.withLock {
                guard let index = sleepers.firstIndex(where: { $0.id == id }) else {
                    cancelledEarly.insert(id)
                    return nil
                }
                return sleepers.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    public func advance(by duration: Duration) {
        let due: [CheckedContinuation<Void, any Error>] = lock.withLock {
            elapsed += duration
            let ready = sleepers.filter { $0.deadline <= elapsed }
            sleepers.removeAll { $0.deadline <= elapsed }
            return ready.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, attos) = duration.components
        return Double(s) + Double(attos) / 1e18
    }
}
