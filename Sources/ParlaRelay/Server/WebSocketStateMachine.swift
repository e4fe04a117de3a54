import NIOCore
import NIOWebSocket

/// The server side of one WebSocket connection after the upgrade (RFC 6455): reassembles
/// messages, answers pings, pings an idle peer, and runs the closing handshake. No I/O: each
/// event returns what the connection handler must do (at most one thing, so no array is
/// allocated per frame), and every rule is tested without sockets.
///
/// It replaces hummingbird's WebSocket handler for the relay's connections, which ran a task
/// group, a ping task and an async inbound stream per connection: most of an idle
/// connection's memory (see docs/BENCHMARKS.md) and a task switch for every frame read.
struct WebSocketStateMachine {
    enum Message: Equatable {
        case text(String)
        case binary
    }

    enum Action: Equatable {
        /// A whole message for the session.
        case deliver(Message)
        /// A control frame to write and flush (pong, ping).
        case write(WebSocketFrame)
        /// Write a close frame; then wait for the peer's (or the close timeout), or hang up
        /// once it is written.
        case sendClose(code: WebSocketErrorCode, reason: String?, then: AfterClose)
        /// Close the connection now.
        case hangUp
    }

    enum AfterClose: Equatable {
        case awaitPeer, hangUp
    }

    private enum State {
        case open
        /// We sent a close frame and wait for the peer's.
        case closing
        case closed
    }

    private enum Fragments {
        case none
        case text(ByteBuffer)
        case binary(Int)
    }

    let maxMessageSize: Int
    private var state = State.open
    private var fragments = Fragments.none
    /// The payload of a ping not answered yet.
    private var outstandingPing: UInt64?
    private var pingsSent: UInt64 = 0

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    mutating func received(_ frame: WebSocketFrame) -> Action? {
        guard isOpen else {
            // While closing only the peer's close matters; data is dropped (RFC 6455 §5.5.1).
            if frame.opcode == .connectionClose, case .closing = state {
                state = .closed
                return .hangUp
            }
            return nil
        }
        // No extension is ever negotiated, so the reserved bits must be clear (§5.2), and a
        // client must mask every frame it sends (§5.1).
        guard frame.rsv1 == false, frame.rsv2 == false, frame.rsv3 == false, frame.maskKey != nil else { return fail(.protocolError) }
        switch frame.opcode {
        case .text, .binary:
            guard case .none = fragments else { return fail(.protocolError) }
            if frame.opcode == .text {
                let data = frame.unmaskedData
                return frame.fin ? completeText(data) : start(.text(data), size: data.readableBytes)
            }
            return frame.fin ? .deliver(.binary) : start(.binary(frame.length), size: frame.length)
        case .continuation:
            return continued(frame)
        case .ping:
            guard frame.fin else { return fail(.protocolError) }
            return .write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
        case .pong:
            guard frame.fin else { return fail(.protocolError) }
            var data = frame.unmaskedData
            if let expected = outstandingPing, data.readableBytes == 8, data.readInteger(as: UInt64.self) == expected {
                outstandingPing = nil
            }
            return nil
        case .connectionClose:
            return peerClosed(frame)
        default:
            return fail(.protocolError)
        }
    }

    /// The ping period passed: ping, or give up on a peer that did not answer the last one.
    mutating func pingTimerFired(allocator: ByteBufferAllocator) -> Action? {
        guard isOpen else { return nil }
        if outstandingPing != nil {
            state = .closed
            return .sendClose(code: .goingAway, reason: "ping timeout", then: .hangUp)
        }
        pingsSent &+= 1
        outstandingPing = pingsSent
        var payload = allocator.buffer(capacity: 8)
        payload.writeInteger(pingsSent)
        return .write(WebSocketFrame(fin: true, opcode: .ping, data: payload))
    }

    /// The relay closes the connection (a replaced login, shutdown, a protocol error).
    mutating func close(code: WebSocketErrorCode, reason: String?) -> Action? {
        guard isOpen else { return nil }
        state = .closing
        return .sendClose(code: code, reason: reason, then: .awaitPeer)
    }

    /// The peer did not answer our close in time.
    mutating func closeTimerFired() -> Action? {
        guard case .closing = state else { return nil }
        state = .closed
        return .hangUp
    }

    mutating func channelClosed() {
        state = .closed
    }

    private mutating func start(_ first: Fragments, size: Int) -> Action? {
        guard size <= maxMessageSize else { return fail(.messageTooLarge) }
        fragments = first
        return nil
    }

    private mutating func continued(_ frame: WebSocketFrame) -> Action? {
        switch fragments {
        case .none:
            return fail(.protocolError)
        case .text(var buffer):
            guard buffer.readableBytes + frame.length <= maxMessageSize else { return fail(.messageTooLarge) }
            fragments = .none  // the buffer is uniquely held while it grows
            var data = frame.unmaskedData
            buffer.writeBuffer(&data)
            if frame.fin { return completeText(buffer) }
            fragments = .text(buffer)
            return nil
        case .binary(let count):
            guard count + frame.length <= maxMessageSize else { return fail(.messageTooLarge) }
            if frame.fin {
                fragments = .none
                return .deliver(.binary)
            }
            fragments = .binary(count + frame.length)
            return nil
        }
    }

    private mutating func completeText(_ buffer: ByteBuffer) -> Action? {
        fragments = .none
        let text = buffer.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
        guard let text else { return fail(.dataInconsistentWithMessage) }
        return .deliver(.text(text))
    }

    /// The peer's close: answered with its code (a code it may not send, or a malformed
    /// frame, with 1002), then the server hangs up (§7.1.1: the server closes the TCP connection).
    private mutating func peerClosed(_ frame: WebSocketFrame) -> Action? {
        state = .closed
        var data = frame.unmaskedData
        let code: WebSocketErrorCode
        switch data.readableBytes {
        case 0:
            code = .normalClosure
        case 1:
            code = .protocolError
        default:
            let number = Int(data.readInteger(as: UInt16.self)!)
            let reasonIsText = data.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) } != nil
            code = frame.fin && reasonIsText && Self.isAllowedFromPeer(number) ? WebSocketErrorCode(codeNumber: number) : .protocolError
        }
        return .sendClose(code: code, reason: nil, then: .hangUp)
    }

    /// Close codes an endpoint may put on the wire (§7.4): 1004-1006 and 1015 are reserved.
    private static func isAllowedFromPeer(_ code: Int) -> Bool {
        switch code {
        case 1000...1003, 1007...1014: true
        case 3000...4999: true
        default: false
        }
    }

    private mutating func fail(_ code: WebSocketErrorCode) -> Action? {
        state = .closed
        fragments = .none
        return .sendClose(code: code, reason: nil, then: .hangUp)
    }
}
