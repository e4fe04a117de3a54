import HummingbirdCore
import Logging
import NIOCore

/// Turns the flushes of one event-loop tick into one.
///
/// The WebSocket writer flushes after every frame, so a busy connection paid one `writev`
/// per frame (an ack, a delivered message). This handler lets the writes through and defers the
/// flush to a task queued behind them: the frames written in the same tick leave in one
/// system call. Nothing waits on a timer, so a lone frame is delayed by one trip round the loop.
final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any
    typealias OutboundOut = Any

    private var flushQueued = false

    func flush(context: ChannelHandlerContext) {
        guard !flushQueued else { return }
        flushQueued = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            guard handler.flushQueued else { return }
            handler.flushQueued = false
            context.flush()
        }
    }

    /// A close right after a write (a close frame, an error before hanging up) must not
    /// overtake the deferred flush: unflushed writes would be dropped with the channel.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushQueued {
            flushQueued = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}

/// A server child channel whose pipeline starts (above TLS, if any) with a `FlushCoalescingHandler`.
struct FlushCoalescingChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.pipeline.addHandler(FlushCoalescingHandler()).flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
