import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The networking floor: a WebSocket server on the same stack (SwiftNIO) that forwards each
/// `send` to its recipient as a `message` of the same size and acknowledges it, with no
/// storage, authentication or other logic. The relay's throughput is reported as a ratio of it.
public enum BareRelay {
    /// The first frame a client sends to the bare relay (it has no login).
    static func hello(name: String) -> String { #"{"type":"hello","name":"\#(name)"}"# }

    /// Serves until the process ends; writes the bound port to `portFile` once listening.
    public static func serve(port: Int, portFile: String?, threads: Int = System.coreCount) async throws -> Never {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let routes = NIOLockedValueBox<[String: any Channel]>([:])
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(maxFrameSize: 1 << 20, shouldUpgrade: { channel, _ in
                    channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                }, upgradePipelineHandler: { channel, _ in
                    channel.pipeline.addHandler(BareConnection(routes: routes))
                })
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
            .bind(host: "127.0.0.1", port: port).get()
        if let portFile, let bound = channel.localAddress?.port {
            try String(bound).write(toFile: portFile, atomically: true, encoding: .utf8)
        }
        try await channel.closeFuture.get()
        fatalError("the bare relay's listening socket closed")
    }
}

private final class BareConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let routes: NIOLockedValueBox<[String: any Channel]>
    var name: String?

    init(routes: NIOLockedValueBox<[String: any Channel]>) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let text = frame.unmaskedData
            guard let name else {
                guard let hello = FrameScan.string("name", in: text) else { return context.close(promise: nil) }
                self.name = hello
                let channel = context.channel
                routes.withLockedValue { $0[hello] = channel }
                write(#"{"type":"welcome","name":"\#(hello)","time":0}"#, to: context)
                return
            }
            guard FrameScan.type(of: text) == "send", let id = FrameScan.string("id", in: text),
                  let to = FrameScan.string("to", in: text), let body = FrameScan.string("body", in: text) else { return }
            if let target = routes.withLockedValue({ $0[to] }) {
                let message = #"{"type":"message","id":"\#(id)","from":"\#(name)","body":"\#(body)","sentAt":0}"#
                var buffer = target.allocator.buffer(capacity: message.utf8.count)
                buffer.writeString(message)
                target.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
            }
            write(#"{"type":"ack","id":"\#(id)"}"#, to: context)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let name { routes.withLockedValue { _ = $0.removeValue(forKey: name) } }
        context.fireChannelInactive()
    }

    private func write(_ text: String, to context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }
}
