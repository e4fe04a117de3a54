import NIOCore
import NIOWebSocket

/// Runs a `WebSocketStateMachine` on the connection's event loop, after NIO's frame decoder
/// and encoder: messages go to the `WebSocketConnection`'s queue, control frames are answered
/// here, the ping and close timers are event-loop timers (no task, no memory while idle).
final class WebSocketConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var machine: WebSocketStateMachine
    private let connection: WebSocketConnection
    private let pingInterval: TimeAmount?
    private let closeTimeout: TimeAmount
    private var pingTimer: RepeatedTask?
    private var closeTimer: Scheduled<Void>?

    init(connection: WebSocketConnection, maxMessageSize: Int, pingInterval: TimeAmount?, closeTimeout: TimeAmount) {
        self.machine = WebSocketStateMachine(maxMessageSize: maxMessageSize)
        self.connection = connection
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let pingInterval else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pingTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: pingInterval, delay: pingInterval) { _ in
            let (handler, context) = loopBound.value
            handler.perform(handler.machine.pingTimerFired(allocator: context.channel.allocator), context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.received(unwrapInboundIn(data)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.channelClosed()
        stopTimers()
        connection.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        machine.channelClosed()
        // NIO's protocol error handler, before this one, answers a malformed frame with its
        // close code and hangs up once that is written; any other error (a reset, say) ends
        // the connection here.
        if error is NIOWebSocketError { return }
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if connection.mayRead() { context.read() }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let close = event as? WebSocketConnection.CloseRequest else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        perform(machine.close(code: close.code, reason: close.reason), context: context)
        promise?.succeed(())
    }

    private func perform(_ action: WebSocketStateMachine.Action?, context: ChannelHandlerContext) {
        guard let action else { return }
        switch action {
        case .deliver(let message):
            connection.enqueue(message)
        case .write(let frame):
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        case .sendClose(let code, let reason, let then):
            var data = context.channel.allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
            data.write(webSocketErrorCode: code)
            if let reason { data.writeString(reason) }
            let written = context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
            switch then {
            case .hangUp:
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                written.whenComplete { _ in loopBound.value.close(promise: nil) }
            case .awaitPeer:
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                closeTimer = context.eventLoop.scheduleTask(in: closeTimeout) {
                    let (handler, context) = loopBound.value
                    handler.perform(handler.machine.closeTimerFired(), context: context)
                }
            }
        case .hangUp:
            context.close(promise: nil)
        }
    }

    private func stopTimers() {
        pingTimer?.cancel()
        pingTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
    }
}
