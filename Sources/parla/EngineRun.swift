import Foundation
import ParlaClient

/// Runs the engine's connection loop for the length of one command.
struct EngineRun {
    let client: ParlaClient

    init(_ client: ParlaClient) {
        self.client = client
    }

    /// Runs the engine while `body` works; returns nil if `timeout` seconds pass first.
    /// `andThen` runs (engine still up) after a successful body.
    func whileRunning<T: Sendable>(timeout: Double, _ body: @escaping @Sendable () async -> T, andThen: @escaping @Sendable () async -> Void = {}) async throws -> T? {
        let client = self.client
        let engine = Task { await client.run() }
        let result = await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
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
