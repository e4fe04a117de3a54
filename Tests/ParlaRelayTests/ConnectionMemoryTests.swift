import Foundation
@testable import ParlaRelay
import ParlaRelayTesting
import Testing

/// A closed connection leaves nothing behind: its `WebSocketConnection` (and, through it, the
/// channel) goes once the session loop ends, whether the client or the relay hung up.
@Suite struct ConnectionMemoryTests {
    @Test func closedConnectionsAreReleased() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let before = WebSocketConnection.alive.load(ordering: .relaxed)
        let connections = 40
        for _ in 0..<connections {
            let client = try await alice.connectIdle()
            await client.close()
        }
        // Other suites running at the same time may hold a few.
        let released = try await waitUntil(timeout: .seconds(10)) { WebSocketConnection.alive.load(ordering: .relaxed) <= before + 5 }
        #expect(released, "\(WebSocketConnection.alive.load(ordering: .relaxed) - before) of \(connections) closed connections are still held")
    }
}
