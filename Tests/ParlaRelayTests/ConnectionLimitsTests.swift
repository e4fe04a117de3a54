import Foundation
import NIOCore
import NIOPosix
import ParlaRelay
import ParlaRelayTesting
import Testing

/// What one machine can hold of the relay before any login: sockets that never finish their
/// request are closed at the head deadline (300 such were held 75 s before), and one address
/// gets at most its share of connections.
@Suite(.serialized) struct ConnectionLimitsTests {
    let group = MultiThreadedEventLoopGroup.singleton

    func open(_ relay: TestRelay, from source: String? = nil) async throws -> any Channel {
        var bootstrap = ClientBootstrap(group: group)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        return try await bootstrap.connect(host: "127.0.0.1", port: relay.port).get()
    }

    func write(_ text: String, to channel: any Channel) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text)).get()
    }

    @Test func requestsThatNeverFinishTheirHeadAreClosedAtTheDeadline() async throws {
        let relay = try await TestRelay.start { $0.requestHeadTimeout = .milliseconds(600) }
        defer { Task { await relay.stop() } }
        var trickling: [any Channel] = []
        for _ in 0..<300 {
            let channel = try await open(relay)
            // On a loaded machine the deadline may pass before this write: closed is what is wanted anyway.
            try? await write("GET /v1 HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n", to: channel)
            trickling.append(channel)
        }
        // A real client that logs in is past the deadline's reach.
        let user = try await TestUser.register("alice", on: relay)
        let client = try await user.connectIdle()
        let started = ContinuousClock.now
        let allClosed = try await waitUntil(timeout: .seconds(5)) { trickling.allSatisfy { !$0.isActive } }
        #expect(allClosed, "every half-sent request is closed")
        #expect(ContinuousClock.now - started < .seconds(4))
        try await Task.sleep(for: .milliseconds(700))
        client.send(.getKeys(.init(name: "alice")))
        guard case .keys = try await client.next() else { Issue.record("the logged-in client was cut off"); return }
        await client.close()
    }

    @Test func oneAddressHoldsAtMostItsShare() async throws {
        let relay = try await TestRelay.start { $0.maxConnectionsPerAddress = 5 }
        defer { Task { await relay.stop() } }
        // Accepted connections are set up on either event loop, so which of six is the one
        // over the cap is a race: exactly one is closed, and the other five stay.
        var opened: [any Channel] = []
        for _ in 0..<6 { opened.append(try await open(relay)) }
        let oneClosed = try await waitUntil(timeout: .seconds(3)) { opened.contains { !$0.isActive } }
        #expect(oneClosed, "the sixth from 127.0.0.1 is closed at once")
        try await Task.sleep(for: .milliseconds(200))
        var held = opened.filter(\.isActive)
        #expect(held.count == 5, "five stay open")
        let elsewhere = try await open(relay, from: "127.0.0.2")
        try await Task.sleep(for: .milliseconds(200))
        #expect(elsewhere.isActive, "another address has its own share")
        // A slot that frees up is there for the next connection, and it works as a relay connection.
        try await held.removeFirst().close()
        try await Task.sleep(for: .milliseconds(200))
        let user = try await TestUser.register("alice", on: relay)
        let client = try await user.connectIdle()
        client.send(.getKeys(.init(name: "alice")))
        guard case .keys = try await client.next() else { Issue.record("no answer on the freed slot"); return }
        await client.close()
        try await Task.sleep(for: .milliseconds(200))
        let metrics = try String(contentsOf: URL(string: relay.httpBase + "/metrics")!, encoding: .utf8)
        #expect(metrics.contains("parla_connections_refused_total 1"))
        for channel in held + [elsewhere] { try? await channel.close() }
    }
}
