import Foundation
import ParlaCrypto
@testable import ParlaClient
import ParlaProtocol
import ParlaRelayTesting
import Synchronization
import Testing

/// The relay proves who it is with a key pinned at `init`: a server that copies its identity
/// string, or plays back a recorded login, gets no messages and never looks "online".
@Suite struct RelayIdentityTests {
    /// A server that is not the relay: it opens with `challenge`, answers any login with
    /// `welcome`, and acknowledges every message (and keeps none), as an impostor would.
    final class Impostor: RelayTransport {
        let challenge: RelayFrame.Challenge
        let welcome: RelayFrame.Welcome
        let acked = Mutex<[String]>([])

        init(challenge: RelayFrame.Challenge, welcome: RelayFrame.Welcome) {
            self.challenge = challenge
            self.welcome = welcome
        }

        func connect(to url: String) async throws -> any RelayLink {
            let link = Link(owner: self)
            await link.push(RelayFrame.challenge(challenge).encoded())
            return link
        }

        actor Link: RelayLink {
            let owner: Impostor
            private var buffered: [String] = []
            private var waiter: CheckedContinuation<String?, Never>?
            private var closed = false

            init(owner: Impostor) {
                self.owner = owner
            }

            func push(_ text: String) {
                if let waiter {
                    self.waiter = nil
                    waiter.resume(returning: text)
                } else {
                    buffered.append(text)
                }
            }

            func receive() async -> String? {
                if !buffered.isEmpty { return buffered.removeFirst() }
                if closed { return nil }
                return await withCheckedContinuation { waiter = $0 }
            }

            func receiveAvailable() async -> [String] { [] }

            func send(_ text: String) async {
                switch try? ClientFrame.decode(text) {
                case .login?: push(RelayFrame.welcome(owner.welcome).encoded())
                case .send(let message)?:
                    owner.acked.withLock { $0.append(message.id) }
                    push(RelayFrame.ack(id: message.id).encoded())
                default: break
                }
            }

            func close() async {
                closed = true
                waiter?.resume(returning: nil)
                waiter = nil
            }
            func closeCode() async -> Int? { nil }
        }
    }

    /// A genuine challenge and welcome, recorded from a login of `profile` on the real relay.
    func recordedLogin(of profile: Profile, on relay: TestRelay) async throws -> (RelayFrame.Challenge, RelayFrame.Welcome) {
        let client = try await RelayTestClient.connect(relay.url)
        defer { Task { await client.close() } }
        let challenge = try #require(client.challenge)
        let reply = try await client.login(profile.name, keys: profile.keys)
        guard case .welcome(let welcome) = reply else { throw RelayTestClient.Failure.unexpected(reply) }
        return (challenge, welcome)
    }

    /// Runs `profile`'s engine against `impostor`, sends a message, and checks nothing went.
    func expectRefused(_ profile: Profile, by impostor: Impostor, saying cause: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let client = try ParlaClient(profile: profile, transport: impostor, policy: TestProfiles.fastRetry, logger: TestProfiles.quietLogger)
        let running = RunningClient(client: client)
        running.start()
        let message = try await client.send("for the real relay only", to: "bob")
        try await eventually("the login refused: \(cause)", sourceLocation: sourceLocation) {
            await client.lastFailure?.contains(cause) == true
        }
        #expect(await running.log.connectionStates().contains(.online) == false, sourceLocation: sourceLocation)
        #expect(impostor.acked.withLock { $0.isEmpty }, "the impostor was handed a message", sourceLocation: sourceLocation)
        #expect(try running.store.message(id: message.id)?.status == .queued, sourceLocation: sourceLocation)
        await running.shutdown()
    }

    @Test func initPinsTheRelayKeyAndAnImpostorWithTheRelaysNameGetsNothing() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestProfiles.register("alice", url: relay.url)
        let (recorded, recordedWelcome) = try await recordedLogin(of: alice, on: relay)
        #expect(alice.relayKey != nil && alice.relayKey == recorded.key)
        #expect(try Profile.load(from: alice.directory).relayKey == recorded.key, "pinned on disk")

        // The relay's identity string, no key (what any server could send before keys).
        let copied = RelayFrame.Challenge(relay: recorded.relay, nonce: Data(repeating: 1, count: 32), time: recorded.time)
        try await expectRefused(alice, by: Impostor(challenge: copied, welcome: .init(name: "alice", time: 0)), saying: "carries no signature")

        // Its own key, signing properly.
        let own = RelayIdentityKey()
        var ownChallenge = copied
        ownChallenge.key = own.publicKey
        ownChallenge.signature = own.sign(.challenge(relay: copied.relay, nonce: copied.nonce, time: copied.time))
        try await expectRefused(alice, by: Impostor(challenge: ownChallenge, welcome: .init(name: "alice", time: 0)), saying: "presented signing key")

        // The real key, with the real key's signature stripped onto another nonce.
        var forged = recorded
        forged.nonce = Data(repeating: 2, count: 32)
        try await expectRefused(alice, by: Impostor(challenge: forged, welcome: recordedWelcome), saying: "challenge is not signed")

        // A whole genuine login played back: the challenge verifies, the welcome was for another login.
        try await expectRefused(alice, by: Impostor(challenge: recorded, welcome: recordedWelcome), saying: "welcome is not signed for this login")

        // And the real relay is still welcome.
        let real = try TestProfiles.engine(for: alice)
        real.start()
        try await eventually("online on the real relay") { await real.log.connectionStates().contains(.online) }
        await real.shutdown()
    }

    /// A profile made before relays had keys pins the key at its next login, and then requires it.
    @Test func aProfileFromBeforeRelayKeysPinsTheKeyAtItsNextLogin() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let registered = try await TestProfiles.register("alice", url: relay.url)
        let path = registered.directory + "/identity.json"
        var identity = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        identity.removeValue(forKey: "relayKey")
        try JSONSerialization.data(withJSONObject: identity).write(to: URL(fileURLWithPath: path))
        let old = try Profile.load(from: registered.directory)
        #expect(old.relayKey == nil)

        let running = try TestProfiles.engine(for: old)
        running.start()
        try await eventually("online") { await running.log.connectionStates().contains(.online) }
        await running.shutdown()
        #expect(try Profile.load(from: registered.directory).relayKey == registered.relayKey)

        let copied = RelayFrame.Challenge(relay: old.relayIdentity, nonce: Data(repeating: 1, count: 32), time: 0)
        try await expectRefused(try Profile.load(from: registered.directory), by: Impostor(challenge: copied, welcome: .init(name: "alice", time: 0)),
                                saying: "carries no signature")
    }
}
