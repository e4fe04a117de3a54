import NIOCore
import NIOWebSocket
@testable import ParlaRelay
import Testing

/// The relay's side of RFC 6455 after the upgrade, without sockets.
@Suite struct WebSocketStateMachineTests {
    let allocator = ByteBufferAllocator()

    /// What the client sends (masked).
    private func frame(_ opcode: WebSocketOpcode, _ text: String = "", fin: Bool = true, rsv1: Bool = false) -> WebSocketFrame {
        .fromClient(fin: fin, rsv1: rsv1, opcode: opcode, data: allocator.buffer(string: text))
    }

    /// What the relay sends (unmasked).
    private func reply(_ opcode: WebSocketOpcode, _ text: String) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, data: allocator.buffer(string: text))
    }

    private func close(_ code: UInt16?, reason: String = "") -> WebSocketFrame {
        var data = allocator.buffer(capacity: 8)
        if let code { data.writeInteger(code) }
        data.writeString(reason)
        return .fromClient(opcode: .connectionClose, data: data)
    }

    @Test func anUnmaskedClientFrameClosesWithProtocolError() {
        var machine = WebSocketStateMachine(maxMessageSize: 1000)
        let unmasked = WebSocketFrame(fin: true, opcode: .text, data: allocator.buffer(string: "{}"))
        #expect(machine.received(unmasked) == .sendClose(code: .protocolError, reason: nil, then: .hangUp), "RFC 6455 §5.1")
    }

    @Test func textMessagesArriveWholeAndInOrder() {
        var machine = WebSocketStateMachine(maxMessageSize: 1000)
        #expect(machine.received(frame(.text, "héllo 👋")) == .deliver(.text("héllo 👋")))
        // A message in three fragments, with a ping between them (control frames may interleave).
        #expect(machine.received(frame(.text, "{\"type\":", fin: false)) == nil)
        #expect(machine.received(frame(.ping, "p")) == .write(reply(.pong, "p")))
        #expect(machine.received(frame(.continuation, "\"ty", fin: false)) == nil)
        #expect(machine.received(frame(.continuation, "ping\"}")) == .deliver(.text("{\"type\":\"typing\"}")))
        #expect(machine.received(frame(.binary, "x")) == .deliver(.binary))
    }

    @Test func aCharacterSplitAcrossFragmentsIsWhole() {
        var machine = WebSocketStateMachine(maxMessageSize: 1000)
        let bytes = Array("😀".utf8)
        var first = allocator.buffer(capacity: 2)
        first.writeBytes(bytes[..<2])
        var second = allocator.buffer(capacity: 2)
        second.writeBytes(bytes[2...])
        #expect(machine.received(.fromClient(fin: false, opcode: .text, data: first)) == nil)
        #expect(machine.received(.fromClient(opcode: .continuation, data: second)) == .deliver(.text("😀")))
    }

    @Test func invalidUTF8ClosesWith1007() {
        var machine = WebSocketStateMachine(maxMessageSize: 1000)
        var data = allocator.buffer(capacity: 2)
        data.writeBytes([0xC3, 0x28])
        #expect(machine.received(.fromClient(opcode: .text, data: data))
            == .sendClose(code: .dataInconsistentWithMessage, reason: nil, then: .hangUp))
        #expect(machine.received(frame(.text, "after")) == nil, "nothing is read after a failure")
    }

    @Test func aMessageOverTheLimitClosesWith1009EvenInFragments() {
        var machine = WebSocketStateMachine(maxMessageSize: 10)
        #expect(machine.received(frame(.text, "12345", fin: false)) == nil)
        #expect(machine.received(frame(.continuation, "12345", fin: false)) == nil)
        #expect(machine.received(frame(.continuation, "1")) == .sendClose(code: .messageTooLarge, reason: nil, then: .hangUp))

        var binary = WebSocketStateMachine(maxMessageSize: 10)
        #expect(binary.received(frame(.binary, "123456", fin: false)) == nil)
        #expect(binary.received(frame(.continuation, "123456")) == .sendClose(code: .messageTooLarge, reason: nil, then: .hangUp))
    }

    @Test func brokenFramingClosesWith1002() {
        let broken: [[WebSocketFrame]] = [
            [frame(.continuation, "no start")],
            [frame(.text, "a", fin: false), frame(.text, "b")],
            [frame(.ping, "p", fin: false)],
            [frame(.pong, "p", fin: false)],
            [frame(.text, "x", rsv1: true)],
        ]
        for frames in broken {
            var machine = WebSocketStateMachine(maxMessageSize: 100)
            let actions = frames.compactMap { machine.received($0) }
            #expect(actions == [.sendClose(code: .protocolError, reason: nil, then: .hangUp)], "\(frames.map(\.opcode))")
        }
    }

    @Test func thePeersCloseIsAnsweredWithItsCodeThenTheRelayHangsUp() {
        var machine = WebSocketStateMachine(maxMessageSize: 100)
        #expect(machine.received(close(1000, reason: "bye")) == .sendClose(code: .normalClosure, reason: nil, then: .hangUp))
        #expect(machine.received(frame(.text, "late")) == nil)

        var empty = WebSocketStateMachine(maxMessageSize: 100)
        #expect(empty.received(close(nil)) == .sendClose(code: .normalClosure, reason: nil, then: .hangUp))
        var appCode = WebSocketStateMachine(maxMessageSize: 100)
        #expect(appCode.received(close(4000)) == .sendClose(code: WebSocketErrorCode(codeNumber: 4000), reason: nil, then: .hangUp))
        // 1005 and 1006 only describe a close; they are never sent, so receiving one is an error.
        var reserved = WebSocketStateMachine(maxMessageSize: 100)
        #expect(reserved.received(close(1006)) == .sendClose(code: .protocolError, reason: nil, then: .hangUp))
    }

    @Test func theRelaysCloseWaitsForThePeerOrTheTimeout() {
        var machine = WebSocketStateMachine(maxMessageSize: 100)
        #expect(machine.close(code: .goingAway, reason: "relay is shutting down")
            == .sendClose(code: .goingAway, reason: "relay is shutting down", then: .awaitPeer))
        #expect(machine.close(code: .goingAway, reason: "again") == nil, "one close frame only")
        #expect(machine.received(frame(.text, "in flight")) == nil, "data after our close is dropped")
        #expect(machine.received(close(1001)) == .hangUp)
        #expect(machine.closeTimerFired() == nil)

        var silent = WebSocketStateMachine(maxMessageSize: 100)
        _ = silent.close(code: .normalClosure, reason: "")
        #expect(silent.closeTimerFired() == .hangUp)
    }

    @Test func aPeerThatMissesAPongIsDisconnected() throws {
        var machine = WebSocketStateMachine(maxMessageSize: 100)
        let first = machine.pingTimerFired(allocator: allocator)
        guard case .write(let ping) = try #require(first) else { Issue.record("expected a ping, got \(first)"); return }
        #expect(ping.opcode == .ping)
        // The answer must carry the ping's payload; an unsolicited pong does not count.
        #expect(machine.received(frame(.pong, "unsolicited")) == nil)
        #expect(machine.received(.fromClient(opcode: .pong, data: ping.unmaskedData)) == nil)
        let second = machine.pingTimerFired(allocator: allocator)
        guard case .write(let secondPing) = try #require(second) else { Issue.record("expected a ping, got \(second)"); return }
        #expect(secondPing.unmaskedData != ping.unmaskedData)
        // No pong for the second ping by the third period.
        #expect(machine.pingTimerFired(allocator: allocator) == .sendClose(code: .goingAway, reason: "ping timeout", then: .hangUp))
        #expect(machine.pingTimerFired(allocator: allocator) == nil)
    }
}
