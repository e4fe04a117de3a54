import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket
import ParlaCrypto
import ParlaProtocol

/// A raw protocol client over a real WebSocket: sends exactly what a test says, and
/// hands back every frame the relay sends.
public final class RelayTestClient: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case timedOut(String)
        case closed(code: Int?, error: String?)
        case unexpected(RelayFrame)

        public var description: String {
            switch self {
            case .timedOut(let what): "timed out waiting for \(what)"
            case .closed(let code, let error): "connection closed (code \(code.map(String.init) ?? "none"))\(error.map { ": " + $0 } ?? "")"
            case .unexpected(let frame): "unexpected frame \(frame.encoded())"
            }
        }
    }

    private enum Command: Sendable {
        case text(String)
        case binary([UInt8])
        case close
    }

    private let inbox = Inbox()
    private let commands: AsyncStream<Command>.Continuation
    private let task: Task<Void, Never>
    /// The relay's challenge from the most recent handshake step.
    public private(set) nonisolated(unsafe) var challenge: RelayFrame.Challenge?

    private init(url: String, tls: TLSConfiguration?) {
        let (stream, continuation) = AsyncStream<Command>.makeStream()
        self.commands = continuation
        let inbox = self.inbox
        self.task = Task {
            var logger = Logger(label: "test-client")
            logger.logLevel = .critical
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: url,
                    configuration: .init(maxFrameSize: 2 * 1024 * 1024, autoPing: .disabled, sniHostname: tls == nil ? nil : "localhost"),
                    tlsConfiguration: tls,
                    logger: logger
                ) { inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await command in stream {
                                switch command {
                                case .text(let text): try await outbound.write(.text(text))
                                case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                                case .close: try await outbound.close(.normalClosure, reason: nil)
                                }
                            }
                        }
                        for try await message in inbound.messages(maxSize: 2 * 1024 * 1024) {
                            if case .text(let text) = message {
                                await inbox.push(text)
                            }
                        }
                        group.cancelAll()
                    }
                }
                await inbox.finish(closeCode: closeFrame.map { Self.number(of: $0.closeCode) })
            } catch {
                await inbox.finish(closeCode: nil, error: "\(error)")
            }
        }
    }

    /// Connects and waits for the relay's challenge.
    public static func connect(_ url: String, tls: TLSConfiguration? = nil) async throws -> RelayTestClient {
        let client = RelayTestClient(url: url, tls: tls)
        guard case .challenge(let challenge) = try await client.next() else {
            throw Failure.timedOut("challenge")
        }
        client.challenge = challenge
        return client
    }

    private static func number(of code: WebSocketErrorCode) -> Int {
        var buffer = ByteBuffer()
        buffer.write(webSocketErrorCode: code)
        return Int(buffer.readInteger(as: UInt16.self) ?? 0)
    }

    public func sendRaw(_ text: String) {
        commands.yield(.text(text))
    }

    public func sendBinary(_ bytes: [UInt8]) {
        commands.yield(.binary(bytes))
    }

    public func send(_ frame: ClientFrame) {
        sendRaw(frame.encoded())
    }

    public func close() async {
        commands.yield(.close)
        commands.finish()
        _ = await task.value
    }

    /// The next frame, skipping presence and typing notices unless asked for.
    public func next(timeout: Duration = .seconds(5), includeEphemeral: Bool = false) async throws -> RelayFrame {
        while true {
            let text = try await inbox.next(timeout: timeout)
            let frame = try RelayFrame.decode(text)
            if !includeEphemeral {
                switch frame {
                case .presence, .typing: continue
                default: break
                }
            }
            if case .challenge(let challenge) = frame { self.challenge = challenge }
            return frame
        }
    }

    /// Waits until the relay closes the connection and returns its close code.
    public func closeCode(timeout: Duration = .seconds(15)) async throws -> Int? {
        try await inbox.waitForClose(timeout: timeout)
    }

    /// Frames received and not yet taken, without waiting.
    public func drainBuffered() async -> [RelayFrame] {
        await inbox.takeAll().compactMap { try? RelayFrame.decode($0) }
    }

    // MARK: Handshake helpers

    public func registerFrame(name: String, keys: IdentityKeys, invite: String? = nil, timestamp: Int64? = nil) -> ClientFrame {
        AuthFrames.register(challenge: challenge!, name: name, keys: keys, invite: invite, timestamp: timestamp)
    }

    public func loginFrame(name: String, keys: IdentityKeys, timestamp: Int64? = nil) -> ClientFrame {
        AuthFrames.login(challenge: challenge!, name: name, keys: keys, timestamp: timestamp)
    }

    /// Registers and expects `welcome`.
    @discardableResult
    public func register(_ name: String, keys: IdentityKeys, invite: String? = nil) async throws -> RelayFrame {
        send(registerFrame(name: name, keys: keys, invite: invite))
        return try await next()
    }

    @discardableResult
    public func login(_ name: String, keys: IdentityKeys) async throws -> RelayFrame {
        send(loginFrame(name: name, keys: keys))
        return try await next()
    }

    /// Connects, logs in (registering first when `register` is set) and checks for `welcome`.
    public static func online(_ url: String, name: String, keys: IdentityKeys, register: Bool = false) async throws -> RelayTestClient {
        let client = try await connect(url)
        let reply = register ? try await client.register(name, keys: keys) : try await client.login(name, keys: keys)
        guard case .welcome = reply else { throw Failure.unexpected(reply) }
        return client
    }
}

/// Frames received so far, handed out one at a time.
actor Inbox {
    private var buffer: [String] = []
    private var finished = false
    private var closeCode: Int?
    private var error: String?

    func push(_ text: String) { buffer.append(text) }

    func finish(closeCode: Int?, error: String? = nil) {
        finished = true
        self.closeCode = closeCode
        self.error = error
    }

    func takeAll() -> [String] {
        defer { buffer = [] }
        return buffer
    }

    func next(timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            if !buffer.isEmpty { return buffer.removeFirst() }
            if finished { throw RelayTestClient.Failure.closed(code: closeCode, error: error) }
            if ContinuousClock.now >= deadline { throw RelayTestClient.Failure.timedOut("a frame") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    func waitForClose(timeout: Duration) async throws -> Int? {
        let deadline = ContinuousClock.now + timeout
        while !finished {
            if ContinuousClock.now >= deadline { throw RelayTestClient.Failure.timedOut("close") }
            try await Task.sleep(for: .milliseconds(5))
        }
        return closeCode
    }
}

/// Signed `register` and `login` frames answering a relay's challenge.
public enum AuthFrames {
    public static func register(challenge: RelayFrame.Challenge, name: String, keys: IdentityKeys, invite: String? = nil, timestamp: Int64? = nil) -> ClientFrame {
        let ts = timestamp ?? Int64(Date().timeIntervalSince1970 * 1000)
        let statement = AuthStatement(
            action: .register, relay: challenge.relay, nonce: challenge.nonce, name: name, timestamp: ts,
            signingKey: keys.signingPublic, agreementKey: keys.agreementPublic, invite: invite)
        return .register(.init(name: name, signingKey: keys.signingPublic, agreementKey: keys.agreementPublic, timestamp: ts,
                               signature: statement.signed(with: keys), invite: invite))
    }

    public static func login(challenge: RelayFrame.Challenge, name: String, keys: IdentityKeys, timestamp: Int64? = nil) -> ClientFrame {
        let ts = timestamp ?? Int64(Date().timeIntervalSince1970 * 1000)
        let statement = AuthStatement(action: .login, relay: challenge.relay, nonce: challenge.nonce, name: name, timestamp: ts)
        return .login(.init(name: name, timestamp: ts, signature: statement.signed(with: keys)))
    }
}
