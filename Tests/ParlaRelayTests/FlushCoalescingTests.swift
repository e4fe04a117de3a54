import NIOCore
import NIOEmbedded
import Testing

@testable import ParlaRelay

/// The relay's flushes are deferred to the end of the event-loop tick: frames written in one
/// tick leave together, none is held past the tick, and a close never drops them.
@Suite struct FlushCoalescingTests {
    private func connectedChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: FlushCoalescingHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    private func written(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    @Test func flushesOfOneTickLeaveTogetherAtItsEnd() throws {
        let channel = try connectedChannel()
        for text in ["a", "b", "c"] {
            channel.write(ByteBuffer(string: text), promise: nil)
            channel.flush()
        }
        // Still in the tick: nothing has reached the socket yet.
        #expect(try written(channel) == [])
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == ["a", "b", "c"])
        // The next tick's frame is not held back by the last one.
        channel.write(ByteBuffer(string: "d"), promise: nil)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == ["d"])
        _ = try? channel.finish()
    }

    @Test func aCloseInTheSameTickFlushesFirst() throws {
        let channel = try connectedChannel()
        channel.write(ByteBuffer(string: "goodbye"), promise: nil)
        channel.flush()
        let closed = channel.close()
        #expect(try written(channel) == ["goodbye"])
        channel.embeddedEventLoop.run()
        try closed.wait()
    }
}
