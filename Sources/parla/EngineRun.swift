import Foundation
import ParlaClient

/// Runs the engine's connection loop for the length of one command.
struct EngineRun {
    let client: ParlaClient

    init(_ client: ParlaClient) {
        self.client = client
    }

    /// Runs the engine while `body` works; returns nil if `timeout` seconds pass first (with
    /// `progress`, seconds without any: a long upload is not cut off while it moves).
    /// `andThen` runs (engine still up) after a successful body.
    func whileRunning<T: Sendable>(timeout: Double, progress: TransferMeter? = nil, _ body: @escaping @Sendable () async -> T,
                                   andThen: @escaping @Sendable () async -> Void = {}) async throws -> T? {
        let client = self.client
        let engine = Task { await client.run() }
        let result = await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                await Self.idle(progress, timeout: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if result != nil { await andThen() }
        engine.cancel()
        await engine.value
        return result
    }

    /// Runs `body` until it ends, or until `meter` has not moved for `timeout` seconds (nil then).
    static func untilStalled<T: Sendable>(_ meter: TransferMeter, timeout: Double, _ body: @escaping @Sendable () async -> T) async throws -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                await idle(meter, timeout: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Returns once `timeout` seconds pass without `meter` moving (or when cancelled).
    static func idle(_ meter: TransferMeter?, timeout: Double) async {
        var deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(200), deadline - ContinuousClock.now))
            if Task.isCancelled { return }
            if let moved = meter?.lastMovedAt { deadline = max(deadline, moved + .milliseconds(Int64(timeout * 1000))) }
        }
    }

    /// Commands that only read still deliver what an earlier run left queued.
    func flushQueued(budget: Double = 3) async {
        // Anything waiting counts: reactions and read receipts are outbox items too.
        guard await client.hasOutboxItems() else { return }
        _ = try? await whileRunning(timeout: budget) {
            await client.waitUntilOutboxEmpty()
            return true
        }
    }
}
