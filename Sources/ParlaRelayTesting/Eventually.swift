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
