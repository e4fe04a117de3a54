import Foundation

/// How the engine reaches a relay. Injected so reconnect logic can be tested
/// without sockets; `WebSocketTransport` is the real one.
public protocol RelayTransport: Sendable {
    /// Opens a connection; throws `TransportError` if the relay cannot be reached.
    func connect(to url: String) async throws -> any RelayLink
}

/// One open connection to the relay, carrying JSON text frames.
public protocol RelayLink: Sendable {
    /// The next frame; `nil` once the connection has ended.
    func receive() async -> String?
    /// Frames that have already arrived, without waiting (lets the engine batch).
    func receiveAvailable() async -> [String]
    func send(_ text: String) async
    func close() async
    /// The WebSocket close code the relay sent, once closed.
    func closeCode() async -> Int?
}

public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `hint` says what to write instead, when that is known.
    case invalidURL(String, hint: String? = nil)
    case unreachable(String)
    /// Plain `ws://` to another machine where it is not safe (registration); says what to do.
    case insecure(String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let hint): "'\(url)' is not a relay URL: " + (hint ?? "expected ws://HOST:PORT or wss://HOST:PORT (path \(RelayURL.defaultPath))")
        case .unreachable(let why): "cannot reach the relay: \(why)"
        case .insecure(let why): "refusing to register over an unencrypted connection: \(why); or, on a network you trust, add --insecure"
        }
    }
}

/// Frames received on a link, handed to one reader.
actor FrameBuffer {
    private var frames: [String] = []
    private var finished = false
    private var code: Int?
    private var waiter: CheckedContinuation<String?, Never>?

    func push(_ text: String) {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: text)
        } else {
            frames.append(text)
        }
    }

    func finish(closeCode: Int?) {
        guard !finished else { return }
        finished = true
        code = closeCode
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    /// The next frame, or nil when the link has ended or the waiting task is cancelled.
    func next() async -> String? {
        if !frames.isEmpty { return frames.removeFirst() }
        if finished || Task.isCancelled { return nil }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { waiter = $0 }
        } onCancel: {
            Task { await self.cancelWaiter() }
        }
    }

    private func cancelWaiter() {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    func takeAll() -> [String] {
        defer { frames = [] }
        return frames
    }

    func closeCode() -> Int? { code }
}
