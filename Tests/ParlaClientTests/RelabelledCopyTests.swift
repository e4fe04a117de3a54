import Foundation
@testable import ParlaClient
import ParlaProtocol
import ParlaRelayTesting
import Synchronization
import Testing

/// A relay that moves messages between conversations by their label: a direct message
/// labelled as a group's, a group's copy delivered as a direct message or as another group's.
/// The conversation named inside the encryption wins, and the mismatch is marked.
@Suite(.serialized) struct RelabelledCopyTests {
    /// The real transport, with each incoming `message` frame's group label rewritten by `rule`.
    final class RelabellingTransport: RelayTransport {
        let inner = WebSocketTransport(pingInterval: .seconds(2), connectTimeout: .seconds(3), logger: TestProfiles.quietLogger)
        let rule = Mutex<@Sendable (String?) -> String?>({ $0 })

        func connect(to url: String) async throws -> any RelayLink {
            Link(inner: try await inner.connect(to: url), transport: self)
        }

        func relabel(_ text: String) -> String {
            guard case .message(var message) = try? RelayFrame.decode(text) else { return text }
            message.group = rule.withLock { $0 }(message.group)
            return RelayFrame.message(message).encoded()
        }

        struct Link: RelayLink {
            let inner: any RelayLink
            let transport: RelabellingTransport
            func receive() async -> String? { await inner.receive().map(transport.relabel) }
            func receiveAvailable() async -> [String] { await inner.receiveAvailable().map(transport.relabel) }
            func send(_ text: String) async { await inner.send(text) }
            func close() async { await inner.close() }
            func closeCode() async -> Int? { await inner.closeCode() }
        }
    }

    func texts(_ client: RunningClient, chat: String) throws -> [String] {
        try client.store.history(chat: chat, limit: 100).filter { $0.from != ClientStore.systemSender }.map(\.text)
    }

    @Test func theConversationNamedInsideTheEncryptionWinsAndTheMismatchIsMarked() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let transport = RelabellingTransport()
        let bob = RunningClient(client: try ParlaClient(profile: try await TestProfiles.register("bob", url: relay.url), transport: transport,
                                                        policy: TestProfiles.fastRetry, logger: TestProfiles.quietLogger))
        alice.start()
        bob.start()
        try await eventually("online") {
            let a = await alice.client.connectionState, b = await bob.client.connectionState
            return a == .online && b == .online
        }
        try await alice.client.createGroup("team", title: "Team", members: ["bob"])
        try await alice.client.createGroup("other", title: "Other", members: ["bob"])
        try await eventually("bob knows both") { try bob.store.group("team") != nil && bob.store.group("other") != nil }

        // A direct message delivered as #team's.
        transport.rule.withLock { $0 = { _ in "team" } }
        _ = try await alice.client.send("direct one", to: "bob")
        try await eventually("the direct message arrives") { try !texts(bob, chat: "alice").isEmpty }
        #expect(try texts(bob, chat: "alice") == ["⚠ (a direct message, delivered as #team) direct one"])
        #expect(try texts(bob, chat: "#team").isEmpty)

        // #team's copy delivered as a direct message.
        transport.rule.withLock { $0 = { _ in nil } }
        _ = try await alice.client.send("group two", to: "#team")
        try await eventually("the group message arrives") { try !texts(bob, chat: "#team").isEmpty }
        #expect(try texts(bob, chat: "#team") == ["⚠ (sent to #team, delivered as a direct message) group two"])

        // #team's copy delivered as #other's.
        transport.rule.withLock { $0 = { _ in "other" } }
        _ = try await alice.client.send("group three", to: "#team")
        try await eventually("the moved copy arrives") { try texts(bob, chat: "#team").count == 2 }
        #expect(try texts(bob, chat: "#team").last == "⚠ (sent to #team, delivered as #other) group three")
        #expect(try texts(bob, chat: "#other").isEmpty)
        #expect(try texts(bob, chat: "alice").count == 1, "nothing else landed in the direct chat")
        await alice.shutdown()
        await bob.shutdown()
    }
}
