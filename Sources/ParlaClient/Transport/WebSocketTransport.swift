import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket
import HummingbirdWSClient

/// The real transport: a WebSocket per connection, with pings so a silently dead
/// link is noticed within two ping periods.
public struct WebSocketTransport: RelayTransport {
    public var pingInterval: Duration
    public var connectTimeout: Duration
    public var tlsConfiguration: TLSConfiguration?
    private let logger: Logger

    public init(pingInterval: Duration = .seconds(15), connectTimeout: Duration = .seconds(10), tlsConfiguration: TLSConfiguration? = nil, logger: Logger) {
        self.pingInterval = pingInterval
        self.connectTimeout = connectTimeout
        self.tlsConfiguration = tlsConfiguration
        self.logger = logger
    }

    public func connect(to typed: String) async throws -> any RelayLink {
        let url = try RelayURL.normalized(typed)
        guard let parsed = URL(string: url), let scheme = parsed.scheme else { throw TransportError.invalidURL(typed) }
        var tls = tlsConfiguration
        if scheme == "wss", tls == nil { tls = TLSConfiguration.makeClientConfiguration() }
        let link = WebSocketLink()
        link.start(url: url, tls: tls, pingInterval: pingInterval, logger: logger)
        return try await withThrowingTaskGroup(of: (any RelayLink).self) { group in
            group.addTask {
                try await link.opened.value()
                return link
            }
            let timeout = connectTimeout
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TransportError.unreachable(RelayURL.timeoutCause(url: url, after: timeout))
            }
            do {
                let result = try await group.next()!
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                await link.close()
                throw error
            }
        }
    }
}

final class WebSocketLink: RelayLink, @unchecked Sendable {
    private enum Command: Sendable {
        case text(String)
        case close
    }

    let opened = OneShot<Void>()
    private let buffer = FrameBuffer()
    private let commands: AsyncStream<Command>.Continuation
    private let commandStream: AsyncStream<Command>
    private let lock = NSLock()
    private var task: Task<Void, Never>?

    init() {
        (commandStream, commands) = AsyncStream<Command>.makeStream()
    }

    func start(url: String, tls: TLSConfiguration?, pingInterval: Duration, logger: Logger) {
        let buffer = self.buffer
        let opened = self.opened
        let stream = commandStream
        let sni = URLComponents(string: url)?.host.flatMap(RelayURL.tlsServerName(for:))
        let task = Task {
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: url,
                    configuration: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: pingInterval), sniHostname: tls == nil ? nil : sni),
                    tlsConfiguration: tls,
                    logger: logger
                ) { inbound, outbound, _ in
                    opened.resolve(.success(()))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await command in stream {
                                switch command {
                                case .text(let text): try await outbound.write(.text(text))
                                case .close:
                                    try await outbound.close(.normalClosure, reason: nil)
                                    return
                                }
                            }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            if case .text(let text) = message { await buffer.push(text) }
                        }
                        group.cancelAll()
                    }
                }
                opened.resolve(.failure(TransportError.unreachable("connection closed during the handshake")))
                await buffer.finish(closeCode: closeFrame.map { Self.number(of: $0.closeCode) })
            } catch {
                opened.resolve(.failure(TransportError.unreachable(RelayURL.explain(error, url: url))))
                await buffer.finish(closeCode: nil)
            }
        }
        lock.withLock { self.task = task }
    }

    func receive() async -> String? { await buffer.next() }
    func receiveAvailable() async -> [String] { await buffer.takeAll() }
    func send(_ text: String) async { commands.yield(.text(text)) }
    func closeCode() async -> Int? { await buffer.closeCode() }

    func close() async {
        commands.yield(.close)
        commands.finish()
        let task = lock.withLock { self.task }
        // Give the close handshake a moment, then drop the socket. A server that took the
        // TCP connection but never answered the upgrade leaves the WebSocket client waiting
        // on a future that cancellation does not reach, so the wait is bounded either way.
        let ended = OneShot<Void>()
        let waiter = Task {
            await task?.value
            ended.resolve(.success(()))
        }
        let deadline = Task {
            try await Task.sleep(for: .seconds(2))
            task?.cancel()
            try await Task.sleep(for: .seconds(1))
            ended.resolve(.success(()))
        }
        try? await ended.value()
        deadline.cancel()
        _ = waiter
        await buffer.finish(closeCode: nil)
    }

    static func number(of code: WebSocketErrorCode) -> Int {
        var bytes = ByteBuffer()
        bytes.write(webSocketErrorCode: code)
        return Int(bytes.readInteger(as: UInt16.self) ?? 0)
    }
}

/// A value set once and awaited by anyone; a waiter whose task is cancelled stops
/// waiting at once (with `CancellationError`), so no caller hangs on a value that never comes.
final class OneShot<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    private var waiters: [Int: CheckedContinuation<T, any Error>] = [:]
    private var nextWaiter = 0

    func resolve(_ result: Result<T, any Error>) {
        let waiters: [CheckedContinuation<T, any Error>] = lock.withLock {
            guard self.result == nil else { return [] }
            self.result = result
            defer { self.waiters = [:] }
            return Array(self.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func value() async throws -> T {
        let id = lock.withLock {
            nextWaiter += 1
            return nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<T, any Error>? = lock.withLock {
                    if let result { return result }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = lock.withLock { waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
