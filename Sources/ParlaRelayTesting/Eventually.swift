/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
/// Tests record their own failure, so the message points at the test's line.
public func waitUntil(timeout: Duration = .seconds(15), interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return false
}

/// Waits for `task` to end, at most `timeout`; returns whether it ended. A test that awaits
/// an engine or server directly would hang the whole run if that never stops; this lets it
/// record a failure and go on instead.
public func waitForTask<T: Sendable, E: Error>(_ task: Task<T, E>, timeout: Duration) async -> Bool {
    let (outcome, continuation) = AsyncStream<Bool>.makeStream()
    let waiter = Task {
        _ = await task.result
        continuation.yield(true)
    }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        continuation.yield(false)
    }
    var iterator = outcome.makeAsyncIterator()
    let ended = await iterator.next() ?? false
    timer.cancel()
    continuation.finish()
    _ = waiter
    return ended
}
