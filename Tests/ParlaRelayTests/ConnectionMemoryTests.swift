import Foundation
@testable import ParlaRelay
import ParlaRelayTesting
import Testing

/// A closed connection leaves nothing behind: hummingbird's WebSocket handler box and the
/// request context refer to each other, and without `WebSocketSlot` every connection's context
/// (and, through it, its channel) stayed alive for the life of the process.
@Suite struct ConnectionMemoryTests {
    @Test func closedConnectionsReleaseTheirRequestContexts() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let before = WebSocketSlot.alive.load(ordering: .relaxed)
        let connections = 40
        for _ in 0..<connections {
            let client = try await alice.connectIdle()
            await client.close()
        }
        // With the cycle, all forty would stay; other suites running at the same time may hold a few.
        let released = try await waitUntil(timeout: .seconds(10)) { WebSocketSlot.alive.load(ordering: .relaxed) <= before + 5 }
        #expect(released, "\(WebSocketSlot.alive.load(ordering: .relaxed) - before) of \(connections) closed connections still hold their context")
    }
}
