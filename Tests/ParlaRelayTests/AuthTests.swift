import Foundation
import ParlaCrypto
import ParlaProtocol
@testable import ParlaRelay
import ParlaRelayTesting
import Testing

@Suite struct AuthTests {
    @Test(arguments: StoreKind.allCases) func registerThenLogIn(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let keys = IdentityKeys()
        let first = try await RelayTestClient.connect(relay.url)
        #expect(first.challenge?.version == ProtocolVersion.current)
        #expect(first.challenge?.nonce.count == 32)
        guard case .welcome(let welcome) = try await first.register("alice", keys: keys) else { Issue.record("no welcome"); return }
        #expect(welcome.name == "alice")
        await first.close()
        let again = try await RelayTestClient.online(relay.url, name: "alice", keys: keys)
        await again.close()
    }

    /// Before login every frame that is not a login is "log in first", known type or not:
    /// nobody can probe which frame types this relay has.
    @Test(arguments: StoreKind.allCases) func beforeLoginUnknownAndKnownTypesGetTheSameAnswer(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let client = try await RelayTestClient.connect(relay.url)
        client.sendRaw(#"{"type":"teleport"}"#)
        _ = try await client.expectError(.notAuthenticated)
        client.sendRaw(#"{"type":"confirm","ids":["x"]}"#)
        _ = try await client.expectError(.notAuthenticated)
        await client.close()
    }

    @Test(arguments: StoreKind.allCases) func badSignatureIsRejectedAndANewChallengeIssued(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        _ = try await TestUser.register("alice", on: relay)
        let client = try await RelayTestClient.connect(relay.url)
        let firstNonce = client.challenge?.nonce
        client.send(client.loginFrame(name: "alice", keys: IdentityKeys()))
        _ = try await client.expectError(.badSignature)
        guard case .challenge(let fresh) = try await client.next() else { Issue.record("no new challenge"); return }
        #expect(fresh.nonce != firstNonce)
        await client.close()
    }

    @Test(arguments: StoreKind.allCases) func aCapturedLoginCannotBeReplayedOnAnotherConnection(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let first = try await RelayTestClient.connect(relay.url)
        let captured = first.loginFrame(name: "alice", keys: alice.keys)
        first.send(captured)
        guard case .welcome = try await first.next() else { Issue.record("first login failed"); return }
        await first.close()

        let attacker = try await RelayTestClient.connect(relay.url)
        attacker.send(captured)
        _ = try await attacker.expectError(.badSignature)
        await attacker.close()
    }

    @Test(arguments: StoreKind.allCases) func aStaleTimestampIsRejected(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let client = try await RelayTestClient.connect(relay.url)
        client.send(client.loginFrame(name: "alice", keys: alice.keys, timestamp: Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000))
        _ = try await client.expectError(.staleTimestamp)
        await client.close()
    }

    @Test(arguments: StoreKind.allCases) func unknownUserTakenNameAndInvalidName(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        _ = try await TestUser.register("alice", on: relay)
        let client = try await RelayTestClient.connect(relay.url)
        client.send(client.loginFrame(name: "nobody", keys: IdentityKeys()))
        _ = try await client.expectError(.unknownUser)
        _ = try await client.next() // new challenge
        client.send(client.registerFrame(name: "alice", keys: IdentityKeys()))
        _ = try await client.expectError(.nameTaken)
        _ = try await client.next()
        // The third failure also ends the connection.
        client.send(client.registerFrame(name: "Not Valid!", keys: IdentityKeys()))
        _ = try await client.expectError(.invalidName)
        _ = try await client.expectError(.tooManyAttempts)
        #expect(try await client.closeCode() == Int(CloseCode.authFailed))
    }

    /// Logins are checked against keys kept in memory: only a committed registration may put one there.
    @Test(arguments: StoreKind.allCases) func onlyTheRegisteredKeyLogsInEvenAfterRefusedRegistrations(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.registration = .closed }
        defer { Task { await relay.stop() } }
        let intruder = IdentityKeys()
        let refused = try await RelayTestClient.connect(relay.url)
        refused.send(refused.registerFrame(name: "alice", keys: intruder, invite: "wrong"))
        _ = try await refused.expectError(.invalidInvite)
        _ = try await refused.next()
        refused.send(refused.loginFrame(name: "alice", keys: intruder))
        _ = try await refused.expectError(.unknownUser)
        await refused.close()

        let alice = IdentityKeys()
        let invite = try await relay.relay.store.createInvite(now: 0)
        let owner = try await RelayTestClient.connect(relay.url)
        guard case .welcome = try await owner.register("alice", keys: alice, invite: invite) else { Issue.record("invite refused"); return }
        await owner.close()

        let second = try await relay.relay.store.createInvite(now: 0)
        let taker = try await RelayTestClient.connect(relay.url)
        taker.send(taker.registerFrame(name: "alice", keys: intruder, invite: second))
        _ = try await taker.expectError(.nameTaken)
        _ = try await taker.next()
        taker.send(taker.loginFrame(name: "alice", keys: intruder))
        _ = try await taker.expectError(.badSignature)
        await taker.close()

        let again = try await RelayTestClient.online(relay.url, name: "alice", keys: alice)
        await again.close()
    }

    @Test func signingKeysInMemoryStayWithinTheirLimit() {
        let keys = SigningKeys(limit: 2)
        keys.remember(Data([1]), of: "alice")
        keys.remember(Data([2]), of: "bob")
        keys.remember(Data([3]), of: "carol")
        keys.remember(Data([4]), of: "alice")
        #expect(keys.count == 2)
        #expect(keys.key(of: "alice") == Data([4]))
        #expect(keys.key(of: "bob") == Data([2]))
        #expect(keys.key(of: "carol") == nil, "past the limit a key is read from the database instead")
    }

    @Test(arguments: StoreKind.allCases) func invalidKeysAreRejected(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let client = try await RelayTestClient.connect(relay.url)
        guard case .register(var frame) = client.registerFrame(name: "alice", keys: IdentityKeys()) else { return }
        frame.agreementKey = Data([1, 2, 3])
        client.send(.register(frame))
        _ = try await client.expectError(.invalidKey)
        await client.close()
    }

    @Test(arguments: StoreKind.allCases) func closedRegistrationNeedsAOneTimeInvite(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.registration = .closed }
        defer { Task { await relay.stop() } }
        let client = try await RelayTestClient.connect(relay.url)
        client.send(client.registerFrame(name: "alice", keys: IdentityKeys()))
        _ = try await client.expectError(.inviteRequired)
        _ = try await client.next()
        client.send(client.registerFrame(name: "alice", keys: IdentityKeys(), invite: "wrong"))
        _ = try await client.expectError(.invalidInvite)
        await client.close()

        let invite = try await relay.relay.store.createInvite(now: 0)
        let invited = try await RelayTestClient.connect(relay.url)
        guard case .welcome = try await invited.register("alice", keys: IdentityKeys(), invite: invite) else { Issue.record("invite refused"); return }
        await invited.close()

        let reuse = try await RelayTestClient.connect(relay.url)
        reuse.send(reuse.registerFrame(name: "bob", keys: IdentityKeys(), invite: invite))
        _ = try await reuse.expectError(.invalidInvite)
        await reuse.close()
    }

    @Test(arguments: StoreKind.allCases) func authenticationMustFinishInTime(store: StoreKind) async throws {
        let relay = try await store.startRelay { $0.authTimeout = .milliseconds(300) }
        defer { Task { await relay.stop() } }
        let client = try await RelayTestClient.connect(relay.url)
        _ = try await client.expectError(.authTimeout)
        #expect(try await client.closeCode() == Int(CloseCode.authTimeout))
    }

    @Test(arguments: StoreKind.allCases) func aClientThatLoggedInOutlivesTheAuthenticationDeadline(store: StoreKind) async throws {
        // Long enough for a failed attempt and a login on a loaded machine (300 ms was not, under the parallel suite).
        let relay = try await store.startRelay { $0.authTimeout = .seconds(1) }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let b = try await bob.connectIdle()
        // Fails once, then logs in on the same connection before the deadline.
        let a = try await RelayTestClient.connect(relay.url)
        a.send(a.loginFrame(name: "alice", keys: IdentityKeys()))
        _ = try await a.expectError(.badSignature)
        guard case .challenge(let fresh) = try await a.next() else { Issue.record("no new challenge"); return }
        a.send(AuthFrames.login(challenge: fresh, name: "alice", keys: alice.keys))
        guard case .welcome = try await a.next() else { Issue.record("login failed"); return }
        #expect(try await a.next() == .queueEmpty)
        try await Task.sleep(for: .milliseconds(1_500))
        a.send(id: "later", to: "bob", text: "still here")
        try await a.expectAck("later")
        guard case .message(let message) = try await b.next() else { Issue.record("no message"); return }
        #expect(message.id == "later")
        await a.close()
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func anUnsupportedVersionIsRefused(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let client = try await RelayTestClient.connect(relay.url)
        guard case .login(var login) = client.loginFrame(name: "alice", keys: alice.keys) else { return }
        login.version = 99
        client.send(.login(login))
        _ = try await client.expectError(.unsupportedVersion)
        #expect(try await client.closeCode() == Int(CloseCode.unsupportedVersion))
    }

    @Test(arguments: StoreKind.allCases) func aSecondLoginReplacesTheFirst(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let first = try await alice.connectIdle()
        let second = try await alice.connectIdle()
        #expect(try await first.closeCode() == Int(CloseCode.replaced))
        let b = try await bob.connectIdle()
        b.send(id: "m", to: "alice", text: "to the new one")
        try await b.expectAck("m")
        #expect(try await second.receiveMessages(count: 1).map(\.id) == ["m"])
        await b.close()
        await second.close()
    }

    @Test(arguments: StoreKind.allCases) func keyDirectoryServesPublicKeys(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let b = try await bob.connectIdle()
        b.send(.getKeys(.init(name: "alice")))
        #expect(try await b.next() == .keys(.init(name: "alice", signingKey: alice.keys.signingPublic, agreementKey: alice.keys.agreementPublic)))
        b.send(.getKeys(.init(name: "nobody")))
        _ = try await b.expectError(.unknownUser)
        await b.close()
    }
}
