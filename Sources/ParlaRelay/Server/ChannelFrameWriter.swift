import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket

/// The request context of the relay's routes: hummingbird's WebSocket context plus the
/// connection's channel, which `ChannelFrameWriter` writes to.
struct RelayRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}

/// Writes a session's text frames straight into its channel's pipeline, a batch per event-loop
/// task and one flush per batch. hummingbird's writer takes each frame through an async
/// writer and a hop to the event loop of its own; for a relay whose every message is a few
/// small frames that machinery cost more than the frames. Control frames (close, pings) stay
/// with hummingbird's handler, which sees these writes pass like any other.
struct ChannelFrameWriter: Sendable {
    let channel: any Channel

    /// Queues `texts` in order. Returns at once while the socket keeps up; when it does not
    /// (the channel stops being writable), waits until this batch has left, so a reader that
    /// stalls holds up its own writer instead of growing the relay's buffers.
    func write(_ texts: [String]) async throws {
        guard !texts.isEmpty else { return }
        let channel = self.channel
        let written = channel.eventLoop.makePromise(of: Void.self)
        let writeAll: @Sendable () -> Void = {
            for (index, text) in texts.enumerated() {
                let frame = WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(string: text))
                channel.write(frame, promise: index == texts.count - 1 ? written : nil)
            }
            channel.flush()
        }
        if channel.eventLoop.inEventLoop {
            writeAll()
        } else {
            channel.eventLoop.execute(writeAll)
        }
        if !channel.isWritable { try await written.futureResult.get() }
    }
}
