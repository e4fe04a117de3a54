import Foundation
import ParlaProtocol
@testable import ParlaRelay
import Testing

/// The connection logic without sockets: frames in, actions out.
@Suite struct SessionStateMachineTests {
    let nonce = Data(repeating: 7, count: 32)

    func machine(rate: Double = 1000, burst: Double = 2000) -> SessionStateMachine {
        var config = SessionStateMachine.Configuration(relayIdentity: "relay-test")
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

    @Test func startSendsTheChallenge() {
        var m = machine()
        #expect(m.start(nonce: nonce, now: 5) == [.send(.challenge(.init(relay: "relay-test", nonce: nonce, time: 5)))])
    }

    @Test func loginAsksTheSessionToAuthenticateWithThisChallenge() {
        var m = machine()
        _ = m.start(nonce: nonce, now: 0)
        let login = ClientFrame.Login(name: "alice", timestamp: 1, signature: Data([1]))
        let actions = m.receive(text: ClientFrame.login(login).encoded(), byteCount: 10, now: 0)
        #expect(actions == [.authenticate(.login(login, statement: .init(relay: "relay-test", nonce: nonce)))])
        #expect(m.authenticationFinished(.success("alice"), nextNonce: nonce, now: 9) == [.send(.welcome(.init(name: "alice", time: 9)))])
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
                #expect(actions == [.send(.error(failure)), .send(.challenge(.init(relay: "relay-test", nonce: fresh, time: 0)))])
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
