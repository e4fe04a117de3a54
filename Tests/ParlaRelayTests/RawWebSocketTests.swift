import Foundation
import NIOCore
import NIOPosix
import ParlaRelayTesting
import Synchronization
import Testing

/// The relay's WebSocket layer over a real socket, byte by byte, with frames no WebSocket
/// library would send: fragments with a ping between them, and text that is not UTF-8.
@Suite struct RawWebSocketTests {
    /// Collects every byte the relay sends; nothing is parsed on the event loop.
    final class ByteCollector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex<[UInt8]>([])
        let closed = Atomic<Bool>(false)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.store(true, ordering: .relaxed)
        }
    }

    struct Frame: Equatable {
        var opcode: UInt8
        var payload: [UInt8]
    }

    /// The frames after the HTTP response, if it is complete.
    static func frames(in bytes: [UInt8]) -> (status: String, frames: [Frame])? {
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = (0...max(0, bytes.count - 4)).first(where: { bytes.count >= 4 && Array(bytes[$0..<$0 + 4]) == end }) else { return nil }
        let status = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")[0]
        var frames: [Frame] = []
        var index = headEnd + 4
        while index + 2 <= bytes.count {
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            } else if length == 127 {
                break  // the relay sends nothing that large here
            }
            guard start + length <= bytes.count else { break }
            frames.append(Frame(opcode: opcode, payload: Array(bytes[start..<start + length])))
            index = start + length
        }
        return (status, frames)
    }

    /// A client frame: masked, as RFC 6455 requires.
    static func clientFrame(fin: Bool, opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        precondition(payload.count < 126)
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        return [(fin ? 0x80 : 0) | opcode, 0x80 | UInt8(payload.count)] + mask
            + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    @Test func fragmentsAreJoinedAroundAPingAndTextThatIsNotUTF8Closes1007() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let collector = ByteCollector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) } }
            .connect(host: "127.0.0.1", port: relay.port).get()
        defer { channel.close(promise: nil) }
        func send(_ bytes: [UInt8]) async throws {
            try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
        }
        func framesSoFar() -> [Frame] { Self.frames(in: collector.received.withLock { $0 })?.frames ?? [] }

        try await send(Array(("GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
        #expect(try await waitUntil { framesSoFar().count == 1 }, "the challenge comes first")
        #expect(Self.frames(in: collector.received.withLock { $0 })?.status.contains(" 101 ") == true)
        #expect(String(decoding: framesSoFar()[0].payload, as: UTF8.self).contains("\"challenge\""))

        // {"type":"confirm","ids":["é"]} in two fragments, split inside "é", with a ping between them.
        let message = Array(#"{"type":"confirm","ids":["é"]}"#.utf8)
        let split = message.firstIndex(of: 0xC3)! + 1
        try await send(Self.clientFrame(fin: false, opcode: 0x1, Array(message[..<split]))
            + Self.clientFrame(fin: true, opcode: 0x9, Array("are you there".utf8))
            + Self.clientFrame(fin: true, opcode: 0x0, Array(message[split...])))
        #expect(try await waitUntil { framesSoFar().count == 3 })
        let afterMessage = framesSoFar()
        #expect(afterMessage[1] == Frame(opcode: 0xA, payload: Array("are you there".utf8)), "the ping is answered at once")
        let answer = String(decoding: afterMessage[2].payload, as: UTF8.self)
        #expect(afterMessage[2].opcode == 0x1 && answer.contains("\"error\""),
                "the joined message reached the session, which refuses it before login: \(answer)")

        try await send(Self.clientFrame(fin: true, opcode: 0x1, [0x7B, 0xC3, 0x28, 0x7D]))
        #expect(try await waitUntil { collector.closed.load(ordering: .relaxed) }, "the relay hangs up")
        let close = try #require(framesSoFar().last)
        #expect(close.opcode == 0x8)
        #expect(close.payload.prefix(2) == [0x03, 0xEF], "1007: invalid frame payload data")
    }
}
