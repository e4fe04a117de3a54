import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

/// The request context of the relay's routes: hummingbird's WebSocket context plus the
/// connection's channel, which `ChannelFrameWriter` writes to.
///
/// hummingbird keeps a route's WebSocket handler in a box that the context points to, and
/// stores a copy of the context in that box: a reference cycle that kept every upgraded
/// connection's context alive after it closed (about 1 KiB per connection ever made, measured;
/// with the channel in the context it would be the whole channel). The context reaches the
/// box through a `WebSocketSlot`, emptied once the connection is upgraded, or when it closes
/// if it never was.
struct RelayRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    private let slot: WebSocketSlot

    var webSocket: WebSocketHandlerReference<Self> { slot.reference }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        slot = WebSocketSlot(channel: source.channel)
    }

    /// Breaks the cycle; hummingbird has read the handler by the time the connection runs.
    func upgraded() {
        slot.empty()
    }
}

/// Holds the handler box for `RelayRequestContext` until the upgrade, then lets it go.
final class WebSocketSlot: Sendable {
    private struct State {
        var box: WebSocketHandlerReference<RelayRequestContext>? = .init()
        var watchingClose = false
    }

    private let state = Mutex(State())
    private let channel: any Channel
    /// Slots alive: a test checks closed connections let theirs go.
    static let alive = Atomic<Int>(0)

    init(channel: any Channel) {
        self.channel = channel
        Self.alive.add(1, ordering: .relaxed)
    }

    deinit { Self.alive.subtract(1, ordering: .relaxed) }

    /// Only WebSocket routes ask for it; the first time, the slot starts watching for the
    /// connection's close (plain HTTP requests on a kept-alive connection add nothing).
    var reference: WebSocketHandlerReference<RelayRequestContext> {
        let (reference, watch) = state.withLock { state in
            let watch = !state.watchingClose && state.box != nil
            state.watchingClose = true
            return (state.box ?? .init(), watch)
        }
        if watch { channel.closeFuture.whenComplete { _ in self.empty() } }
        return reference
    }

    func empty() {
        state.withLock { $0.box = nil }
    }
}

/// Writes a session's text frames straight into its channel's pipeline, a batch per event-loop
/// task and one flush per batch. hummingbird's writer takes each frame through an async
/// writer and a hop to the event loop of its own; for a relay whose every message is a few
/// small frames that machinery cost more than the frames. The frames are encoded here, header
/// and text in one buffer (a server's frames are not masked), and enter the pipeline at the
/// `FlushCoalescingHandler`, below NIO's frame encoder, which would write each header as a
/// buffer of its own. Control frames (close, pings) stay with hummingbird's handler and reach
/// the socket through the same handler, in the order they were written.
struct ChannelFrameWriter: Sendable {
    let channel: any Channel

    /// Queues `texts` in order. Returns nil while the socket keeps up; when it does not (the
    /// channel stops being writable), returns the batch's completion for the caller to wait
    /// on, so a reader that stalls holds up its own writer instead of growing the relay's
    /// buffers. Not `async` itself, so the usual case costs the writer task no suspension.
    func write(_ texts: [String]) -> EventLoopFuture<Void>? {
        guard !texts.isEmpty else { return nil }
        let channel = self.channel
        let written = channel.eventLoop.makePromise(of: Void.self)
        let writeAll: @Sendable () -> Void = {
            guard let context = try? channel.pipeline.syncOperations.context(handlerType: FlushCoalescingHandler.self),
                  let coalescing = context.handler as? FlushCoalescingHandler else {
                // Not a relay connection's pipeline (it always has the handler): NIO's encoder does it.
                for (index, text) in texts.enumerated() {
                    let frame = WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(string: text))
                    channel.write(frame, promise: index == texts.count - 1 ? written : nil)
                }
                channel.flush()
                return
            }
            for (index, text) in texts.enumerated() {
                context.write(NIOAny(Self.encodedFrame(text, allocator: channel.allocator)), promise: index == texts.count - 1 ? written : nil)
            }
            coalescing.flush(context: context)
        }
        if channel.eventLoop.inEventLoop {
            writeAll()
        } else {
            channel.eventLoop.execute(writeAll)
        }
        return channel.isWritable ? nil : written.futureResult
    }

    /// One unmasked, unfragmented text frame (RFC 6455 §5.2): header and payload in one buffer.
    static func encodedFrame(_ text: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = text.utf8.count
        var buffer = allocator.buffer(capacity: length + 10)
        buffer.writeInteger(UInt8(0x81))  // FIN, text
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeString(text)
        return buffer
    }
}
