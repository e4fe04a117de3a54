import Foundation
import ParlaCrypto
import ParlaProtocol
@testable import ParlaRelay
import Testing

/// The connection logic without sockets: frames in, actions out.
@Suite struct SessionStateMachineTests {
    let nonce = Data(repeating: 7, count: 32)
    let relayKey = RelayIdentityKey()

    func machine(rate: Double = 1000, burst: Double = 2000) -> SessionStateMachine {
        var config = SessionStateMachine.Configuration(relayIdentity: "relay-test", relayKey: relayKey)
        config.rateLimitPerSecond = rate
        config.rateLimitBurst = burst
        return SessionStateMachine(configuration: config, now: 0)
    }

    func loggedIn() -> SessionStateMachine {
        var m = machine()
        _ = m.start(nonce: nonce, now: 0)
        _ = m.receive(text: ClientFrame.login(.init(name: "alice", timestamp: 0, signature: Data([1]))).encoded(), byteCount: 10, now: 0)
        _ = m.authenticationFinished(.success("alice"), nextNonce: nonce, now: 0)
        return m
    }

    /// The challenge sent, checked to be signed by the relay key over exactly its fields.
    func signedChallenge(_ actions: [SessionStateMachine.Action]) -> RelayFrame.Challenge? {
        for case .send(.challenge(let challenge)) in actions {
            let proof = RelayProof.challenge(relay: challenge.relay, nonce: challenge.nonce, time: challenge.time)
            guard challenge.key == relayKey.publicKey, proof.isSigned(by: relayKey.publicKey, signature: challenge.signature) else { return nil }
            return challenge
        }
        return nil
    }

    @Test func startSendsTheChallengeSignedByTheRelayKey() throws {
        var m = machine()
        let challenge = try #require(signedChallenge(m.start(nonce: nonce, now: 5)))
        #expect(challenge.relay == "relay-test" && challenge.nonce == nonce && challenge.time == 5)
    }

    @Test func loginAsksTheSessionToAuthenticateWithThisChallenge() {
        var m = machine()
        _ = m.start(nonce: nonce, now: 0)
        let login = ClientFrame.Login(name: "alice", timestamp: 1, signature: Data([1]))
        let actions = m.receive(text: ClientFrame.login(login).encoded(), byteCount: 10, now: 0)
        #expect(actions == [.authenticate(.login(login, statement: .init(relay: "relay-test", nonce: nonce)))])
        let welcomed = m.authenticationFinished(.success("alice"), nextNonce: nonce, now: 9)
        guard case .send(.welcome(let welcome)) = welcomed.first else { Issue.record("no welcome: \(welcomed)"); return }
        #expect(welcome.name == "alice" && welcome.time == 9)
        // Bound to this connection's nonce and the timestamp the client signed, nothing older.
        #expect(RelayProof.welcome(relay: "relay-test", nonce: nonce, name: "alice", clientTime: 1).isSigned(by: relayKey.publicKey, signature: welcome.signature))
        #expect(!RelayProof.welcome(relay: "relay-test", nonce: nonce, name: "alice", clientTime: 0).isSigned(by: relayKey.publicKey, signature: welcome.signature))
        #expect(m.user == "alice")
    }

    @Test func failedAttemptsGetAFreshChallengeThenTheConnectionCloses() {
        var m = machine()
        _ = m.start(nonce: nonce, now: 0)
        let login = ClientFrame.login(.init(name: "alice", timestamp: 1, signature: Data([1]))).encoded()
        let failure = FrameError(.badSignature, "no")
        for attempt in 1...3 {
            _ = m.receive(text: login, byteCount: 10, now: 0)
            let fresh = Data(repeating: UInt8(attempt), count: 32)
            let actions = m.authenticationFinished(.failure(failure), nextNonce: fresh, now: 0)
            if attempt < 3 {
                #expect(actions.first == .send(.error(failure)))
                #expect(signedChallenge(actions)?.nonce == fresh)
            } else {
                #expect(actions.last == .close(code: CloseCode.authFailed, reason: "authentication failed"))
            }
        }
    }

    @Test func nothingButAuthBeforeLogin() {
        var m = machine()
        _ = m.start(nonce: nonce, now: 0)
        let actions = m.receive(text: ClientFrame.send(.init(id: "m1", to: "bob", body: Data())).encoded(), byteCount: 10, now: 0)
        guard case .send(.error(let error)) = actions.first else { Issue.record("no error"); return }
        #expect(error.code == .notAuthenticated)
        #expect(error.ref == "m1")
    }

    @Test func authDeadlineClosesOnlyUnauthenticatedConnections() {
        var waiting = machine()
        _ = waiting.start(nonce: nonce, now: 0)
        #expect(waiting.authDeadlinePassed().last == .close(code: CloseCode.authTimeout, reason: "authentication timeout"))
        var online = loggedIn()
        #expect(online.authDeadlinePassed().isEmpty)
    }

    @Test func validSendBecomesAnAcceptAction() {
        var m = loggedIn()
        let send = ClientFrame.Send(id: "m1", to: "bob", body: Data("hi".utf8))
        #expect(m.receive(text: ClientFrame.send(send).encoded(), byteCount: 10, now: 0) == [.accept(send)])
    }

    @Test func rateLimitRefillsWithTime() {
        var m = machine(rate: 10, burst: 2)
        _ = m.start(nonce: nonce, now: 0)
        let typing = ClientFrame.typing(.init(to: "bob")).encoded()
        func limited(_ now: Int64) -> Bool {
            if case .send(.error(let e)) = m.receive(text: typing, byteCount: 10, now: now).first { return e.code == .rateLimited }
            return false
        }
        #expect(!limited(0))
        #expect(!limited(0))
        #expect(limited(0))
        #expect(!limited(100)) // 10/s refills one token in 100 ms
        #expect(limited(100))
    }

    @Test func oversizedFrameIsRefusedBeforeParsing() {
        var m = loggedIn()
        let actions = m.receive(text: "x", byteCount: ProtocolLimits.defaultMaxFrameBytes + 1, now: 0)
        guard case .send(.error(let error)) = actions.first else { Issue.record("no error"); return }
        #expect(error.code == .frameTooLarge)
    }

    @Test func confirmWithTooManyIdsIsRefused() {
        var m = loggedIn()
        let ids = (0...ProtocolLimits.maxIDsPerFrame).map { "i\($0)" }
        guard case .send(.error(let error)) = m.receive(text: ClientFrame.confirm(.init(ids: ids)).encoded(), byteCount: 10, now: 0).first else {
            Issue.record("no error"); return
        }
        #expect(error.code == .tooManyIDs)
    }

    @Test func typingToYourselfIsDropped() {
        var m = loggedIn()
        #expect(m.receive(text: ClientFrame.typing(.init(to: "alice")).encoded(), byteCount: 10, now: 0).isEmpty)
    }
}

@Suite struct DurationParsingTests {
    @Test func parsesUnits() {
        #expect(RelayConfiguration.parseDuration("30d") == Int64(30) * 86_400_000)
        #expect(RelayConfiguration.parseDuration("12h") == Int64(12) * 3_600_000)
        #expect(RelayConfiguration.parseDuration("90m") == Int64(90) * 60_000)
        #expect(RelayConfiguration.parseDuration("45s") == 45_000)
        #expect(RelayConfiguration.parseDuration("500ms") == 500)
        #expect(RelayConfiguration.parseDuration("0d") == nil)
        #expect(RelayConfiguration.parseDuration("-1d") == nil)
        #expect(RelayConfiguration.parseDuration("soon") == nil)
        #expect(RelayConfiguration.parseDuration("10") == nil)
    }
}
