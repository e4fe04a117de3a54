import NIOCore
import NIOWebSocket
import Synchronization

/// An upgraded WebSocket connection as the relay's session loop sees it: whole messages in
/// order, and a way to close. The frames themselves are handled on the event loop by
/// `WebSocketConnectionHandler`; messages reach the loop through a `BatchQueue`, so a busy
/// connection wakes its task once per batch and an idle one holds no task of its own.
final class WebSocketConnection: Sendable {
    let channel: any Channel
    /// Messages read and not yet taken by the session loop, in bytes: reading from the socket
    /// pauses above `readPauseBytes`, so a client that sends faster than the relay works
    /// holds up its own socket instead of the relay's memory.
    let readPauseBytes: Int
    private let inbound = BatchQueue<WebSocketStateMachine.Message>()
    private let queuedBytes = Atomic<Int>(0)
    private let readPaused = Atomic<Bool>(false)
    /// Connections not yet released: a test checks that closed ones go.
    static let alive = Atomic<Int>(0)

    init(channel: any Channel, readPauseBytes: Int) {
        self.channel = channel
        self.readPauseBytes = readPauseBytes
        Self.alive.add(1, ordering: .relaxed)
    }

    deinit { Self.alive.subtract(1, ordering: .relaxed) }

    /// The next messages in order, or nil once the connection has closed.
    func messages() async -> [WebSocketStateMachine.Message]? {
        await inbound.next()
    }

    /// The loop has handled `messages`: reading resumes if it was paused for them.
    func consumed(_ messages: [WebSocketStateMachine.Message]) {
        let bytes = messages.reduce(0) { $0 + Self.cost(of: $1) }
        let left = queuedBytes.subtract(bytes, ordering: .sequentiallyConsistent).newValue
        if left < readPauseBytes, readPaused.exchange(false, ordering: .sequentiallyConsistent) {
            channel.eventLoop.execute { [channel] in channel.read() }
        }
    }

    /// Sends a close frame after everything written before it, then waits for the client's
    /// (or the close timeout) before hanging up.
    func close(code: UInt16, reason: String) {
        channel.triggerUserOutboundEvent(CloseRequest(code: WebSocketErrorCode(codeNumber: Int(code)), reason: reason), promise: nil)
    }

    struct CloseRequest: Sendable {
        var code: WebSocketErrorCode
        var reason: String
    }

    // MARK: - Event-loop side (`WebSocketConnectionHandler`)

    func enqueue(_ message: WebSocketStateMachine.Message) {
        queuedBytes.add(Self.cost(of: message), ordering: .sequentiallyConsistent)
        inbound.yield(message)
    }

    func finish() {
        inbound.finish()
    }

    /// Whether the handler may read from the socket now. When not, it is resumed by `consumed`.
    func mayRead() -> Bool {
        guard queuedBytes.load(ordering: .sequentiallyConsistent) >= readPauseBytes else { return true }
        readPaused.store(true, ordering: .sequentiallyConsistent)
        // The loop may have caught up between the check and the flag: then whoever clears the flag reads.
        if queuedBytes.load(ordering: .sequentiallyConsistent) < readPauseBytes {
            return readPaused.exchange(false, ordering: .sequentiallyConsistent)
        }
        return false
    }

    private static func cost(of message: WebSocketStateMachine.Message) -> Int {
        switch message {
        case .text(let text): max(1, text.utf8.count)
        case .binary: 1
        }
    }
}
