import NIOCore
import NIOEmbedded
import NIOWebSocket
@testable import ParlaRelay
import Testing

/// The handler on a channel without a socket: messages reach the session loop, reading pauses
/// while too much waits for it, and the relay's close goes out as a close frame.
@Suite struct WebSocketConnectionHandlerTests {
    /// Counts the reads that get past the handler (it sits nearer the socket).
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    private func text(_ string: String, on channel: EmbeddedChannel) -> WebSocketFrame {
        .fromClient(opcode: .text, data: channel.allocator.buffer(string: string))
    }

    /// A connected channel with the handler on it (pings off unless given).
    private func connected(pingInterval: TimeAmount? = nil) async throws -> (EmbeddedChannel, WebSocketConnection) {
        let channel = EmbeddedChannel()
        let connection = WebSocketConnection(channel: channel, readPauseBytes: 1 << 20)
        try channel.pipeline.syncOperations.addHandler(
            WebSocketConnectionHandler(connection: connection, maxMessageSize: 100, pingInterval: pingInterval, closeTimeout: .seconds(5)))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        return (channel, connection)
    }

    @Test func readingPausesWhileTooMuchWaitsForTheSession() async throws {
        let channel = EmbeddedChannel()
        let counter = ReadCounter()
        let connection = WebSocketConnection(channel: channel, readPauseBytes: 10)
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(
            WebSocketConnectionHandler(connection: connection, maxMessageSize: 100, pingInterval: nil, closeTimeout: .seconds(5)))

        try channel.writeInbound(text("12345", on: channel))
        channel.read()
        #expect(counter.reads == 1, "5 of 10 bytes waiting: reading goes on")
        try channel.writeInbound(text("héllo", on: channel))
        channel.read()
        #expect(counter.reads == 1, "11 bytes waiting: the socket is not read")

        let messages = try #require(await connection.messages())
        #expect(messages == [.text("12345"), .text("héllo")])
        connection.consumed(messages)
        channel.embeddedEventLoop.run()
        #expect(counter.reads == 2, "the session caught up: reading resumes")
        channel.read()
        #expect(counter.reads == 3)
        _ = try channel.finish()
    }

    @Test func theRelaysCloseIsAFrameAndTheInboundEndsWithTheChannel() async throws {
        let (channel, connection) = try await connected()

        connection.close(code: 4002, reason: "logged in from another client")
        channel.embeddedEventLoop.run()
        var close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        #expect(close.data.readInteger(as: UInt16.self) == 4002)
        #expect(close.data.readString(length: close.data.readableBytes) == "logged in from another client")
        #expect(channel.isActive, "waits for the client's close")

        // The client's answer: the relay hangs up, and the session loop sees the end.
        var answer = channel.allocator.buffer(capacity: 2)
        answer.writeInteger(UInt16(4002))
        try channel.writeInbound(WebSocketFrame.fromClient(opcode: .connectionClose, data: answer))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(await connection.messages() == nil)
    }

    @Test func aClientThatNeverAnswersTheCloseIsHungUpOnAfterTheTimeout() async throws {
        let (channel, connection) = try await connected()

        connection.close(code: 1001, reason: "relay is shutting down")
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func anIdleClientIsPingedAndDroppedWhenItStopsAnswering() async throws {
        let (channel, _) = try await connected(pingInterval: .seconds(30))

        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        let ping = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(ping.opcode == .ping)
        try channel.writeInbound(WebSocketFrame.fromClient(opcode: .pong, data: ping.data))
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        let second = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(second.opcode == .ping)
        #expect(channel.isActive, "it answered the first")

        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        var close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        #expect(close.data.readInteger(as: UInt16.self) == 1001)
        #expect(!channel.isActive, "no answer to the second ping")
    }
}
