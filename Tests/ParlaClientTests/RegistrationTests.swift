import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import Synchronization
import Testing

/// `init` never loses the name: the keys are on disk before the relay can bind the name to them.
@Suite struct RegistrationTests {
    /// The real transport, except that the relay's answer to a registration never arrives
    /// (the connection drops, or the process dies, right after the relay committed it).
    struct AnswerLost: RelayTransport {
        let real = WebSocketTransport(logger: TestProfiles.quietLogger)

        func connect(to url: String) async throws -> any RelayLink {
            Link(real: try await real.connect(to: url))
        }

        final class Link: RelayLink, Sendable {
            let real: any RelayLink
            private let registered = Atomic<Bool>(false)

            init(real: any RelayLink) {
                self.real = real
            }

            func receive() async -> String? {
                if registered.load(ordering: .relaxed) {
                    // Wait for the relay to commit the registration, then lose its answer.
                    _ = await real.receive()
                    return nil
                }
                return await real.receive()
            }

            func receiveAvailable() async -> [String] { await real.receiveAvailable() }
            func send(_ text: String) async {
                if text.contains(#""type":"register""#) { registered.store(true, ordering: .relaxed) }
                await real.send(text)
            }
            func close() async { await real.close() }
            func closeCode() async -> Int? { await real.closeCode() }
        }
    }

    @Test func aRegistrationWhoseAnswerWasLostFinishesWithTheSameKeys() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-init-lost") + "/profile"
        await #expect(throws: (any Error).self) {
            _ = try await ParlaClient.register(name: "alice", server: relay.url, invite: nil, directory: home, transport: AnswerLost())
        }
        #expect(try await relay.relay.store.user(named: "alice") != nil, "the relay did register alice")
        #expect(!Profile.exists(at: home), "no profile yet")
        #expect(FileManager.default.fileExists(atPath: home + "/identity.pending.json"), "but the keys are kept")
        // Running init again finishes: the name is ours, with the keys the relay has.
        let profile = try await ParlaClient.register(name: "alice", server: relay.url, invite: nil, directory: home,
                                                     transport: WebSocketTransport(logger: TestProfiles.quietLogger))
        #expect(try await relay.relay.store.user(named: "alice")?.signingKey == profile.keys.signingPublic)
        #expect(!FileManager.default.fileExists(atPath: home + "/identity.pending.json"))
        let engine = try TestProfiles.engine(for: profile)
        engine.start()
        try await eventually("logs in") { await engine.client.connectionState == .online }
        await engine.shutdown()
    }

    @Test func keysOfARegistrationThatNeverReachedTheRelayAreRegisteredNext() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-init-pending") + "/profile"
        // Keys saved, the process gone before the register frame left.
        try Profile.save(name: "bob", server: relay.url, relayIdentity: "", relayKey: nil, keys: .init(), in: home, pending: true)
        let profile = try await ParlaClient.register(name: "bob", server: relay.url, invite: nil, directory: home,
                                                     transport: WebSocketTransport(logger: TestProfiles.quietLogger))
        #expect(try await relay.relay.store.user(named: "bob")?.signingKey == profile.keys.signingPublic)
    }
}
