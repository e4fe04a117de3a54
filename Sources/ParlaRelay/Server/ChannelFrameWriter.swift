import NIOCore
import NIOWebSocket

/// Writes a session's text frames straight into its channel's pipeline, a batch per event-loop
/// task and one flush per batch. hummingbird's writer took each frame through an async
/// writer and a hop to the event loop of its own; for a relay whose every message is a few
/// small frames that machinery cost more than the frames. The frames are encoded here, header
/// and text in one buffer (a server's frames are not masked), and enter the pipeline at the
/// `FlushCoalescingHandler`, below NIO's frame encoder, which would write each header as a
/// buffer of its own. Control frames (close, pings) are written by `WebSocketConnectionHandler`
/// and reach the socket through the same handler, in the order they were written.
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
