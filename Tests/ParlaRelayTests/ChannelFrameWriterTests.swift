import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ParlaRelay

/// The relay encodes its text frames itself (header and text in one buffer): the bytes must be
/// exactly what NIO's own WebSocket encoder would have sent, at every length boundary.
@Suite struct ChannelFrameWriterTests {
    private func nioEncoded(_ text: String) throws -> ByteBuffer {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.writeOutbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
        var all = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
        _ = try channel.finish()
        return all
    }

    @Test(arguments: [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
    func framesMatchNIOsEncoderAtEveryLengthBoundary(length: Int) throws {
        let text = String(repeating: "a", count: length)
        #expect(ChannelFrameWriter.encodedFrame(text, allocator: ByteBufferAllocator()) == (try nioEncoded(text)))
    }

    @Test func theLengthIsCountedInBytesNotCharacters() throws {
        // 60 characters, 125 + 1 bytes: crosses the 7-bit length boundary only when counted in UTF-8.
        let text = String(repeating: "é", count: 59) + "👍" + "abcd"
        #expect(text.count == 64 && text.utf8.count == 126)
        #expect(ChannelFrameWriter.encodedFrame(text, allocator: ByteBufferAllocator()) == (try nioEncoded(text)))
    }

    @Test func aBatchLeavesInOrderWithOneDeferredFlush() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescingHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        let writer = ChannelFrameWriter(channel: channel)
        #expect(writer.write(["one", "two", "three"]) == nil, "a writable channel needs no waiting")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "the flush waits for the end of the tick")
        channel.embeddedEventLoop.run()
        var sent: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { sent.append(buffer) }
        #expect(sent == (try ["one", "two", "three"].map(nioEncoded)))
        _ = try channel.finish()
    }

    /// A pipeline without the coalescing handler (never a relay connection's) still gets its
    /// frames, through NIO's encoder, flushed at once.
    @Test func withoutTheCoalescingHandlerNIOsEncoderWritesTheFrames() throws {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        #expect(ChannelFrameWriter(channel: channel).write(["one", String(repeating: "é", count: 100)]) == nil)
        var sent = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { sent.writeBuffer(&part) }
        var expected = try nioEncoded("one")
        var second = try nioEncoded(String(repeating: "é", count: 100))
        expected.writeBuffer(&second)
        #expect(sent == expected)
        _ = try channel.finish()
    }
}
