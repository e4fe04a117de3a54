import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A lean WebSocket connection for load generation, on SwiftNIO directly: it can bind a
/// chosen source address (to get past the ephemeral-port limit), hands every text frame
/// to `onText` on its event loop, answers pings, and sends many frames per flush.
public final class LoadConnection: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case badURL(String)
        case upgradeFailed(String)
        case closed

        public var description: String {
            switch self {
            case .badURL(let url): "'\(url)' is not a ws:// URL"
            case .upgradeFailed(let why): "WebSocket upgrade failed: \(why)"
            case .closed: "the connection closed"
            }
        }
    }

    public let channel: any Channel
    /// Called on the event loop for each text frame; set before frames can arrive.
    private let handler: FrameHandler

    private init(channel: any Channel, handler: FrameHandler) {
        self.channel = channel
        self.handler = handler
    }

    /// Opens `url` (ws:// only) from `sourceAddress` if given; `onText` sees every text frame
    /// and `onClose` runs once when the connection ends.
    public static func open(url: String, sourceAddress: String? = nil, group: any EventLoopGroup,
                            onText: @escaping @Sendable (ByteBuffer) -> Void,
                            onReadComplete: @escaping @Sendable () -> Void = {},
                            onClose: @escaping @Sendable () -> Void = {}) async throws -> LoadConnection {
        guard let parsed = URL(string: url), parsed.scheme == "ws", let host = parsed.host else { throw Failure.badURL(url) }
        let port = parsed.port ?? 80
        let path = parsed.path.isEmpty ? "/" : parsed.path
        let handler = FrameHandler(onText: onText, onReadComplete: onReadComplete, onClose: onClose)
        let upgraded = group.next().makePromise(of: Void.self)
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
        if let sourceAddress {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceAddress, port: 0))
        }
        bootstrap = bootstrap.channelInitializer { channel in
            let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let upgrader = NIOWebSocketClientUpgrader(requestKey: key, maxFrameSize: 1 << 20, automaticErrorHandling: true) { channel, _ in
                channel.pipeline.addHandler(handler).map { upgraded.succeed(()) }
            }
            let request = UpgradeRequest(host: "\(host):\(port)", path: path, failure: upgraded)
            let config: NIOHTTPClientUpgradeConfiguration = (upgraders: [upgrader], completionHandler: { _ in })
            // Bytes that arrive with the 101 response (the relay's first frame) must be forwarded, not dropped.
            return channel.pipeline.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes, withClientUpgrade: config).flatMap {
                channel.pipeline.addHandler(request)
            }
        }
        // An address given as such skips the resolver and happy eyeballs: a getaddrinfo on a dispatch thread per connection.
        let channel: any Channel
        if let address = try? SocketAddress(ipAddress: host, port: port) {
            channel = try await bootstrap.connect(to: address).get()
        } else {
            channel = try await bootstrap.connect(host: host, port: port).get()
        }
        channel.closeFuture.whenComplete { _ in upgraded.fail(Failure.closed) }
        try await upgraded.futureResult.get()
        return LoadConnection(channel: channel, handler: handler)
    }

    /// Queues frames and flushes once: one syscall for many frames.
    public func send(_ texts: [String]) {
        guard !texts.isEmpty else { return }
        let channel = self.channel
        channel.eventLoop.execute {
            for text in texts {
                var buffer = channel.allocator.buffer(capacity: text.utf8.count)
                buffer.writeString(text)
                channel.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), promise: nil)
            }
            channel.flush()
        }
    }

    public func send(_ text: String) { send([text]) }

    public func close() {
        channel.close(promise: nil)
    }
}

/// Sends the HTTP upgrade request once connected and fails the upgrade on any error (the
/// upgrade handler reports a refused upgrade as one). Everything read passes through untouched,
/// so the first WebSocket frame, which may arrive with the 101 response, is never lost.
private final class UpgradeRequest: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let path: String
    let failure: EventLoopPromise<Void>

    init(host: String, path: String, failure: EventLoopPromise<Void>) {
        self.host = host
        self.path = path
        self.failure = failure
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure.fail(LoadConnection.Failure.upgradeFailed("\(error)"))
        context.close(promise: nil)
    }
}

/// Text frames to the callback (reassembling fragments), pings answered, close honoured.
private final class FrameHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let onText: @Sendable (ByteBuffer) -> Void
    let onReadComplete: @Sendable () -> Void
    let onClose: @Sendable () -> Void
    private var fragments: ByteBuffer?

    init(onText: @escaping @Sendable (ByteBuffer) -> Void, onReadComplete: @escaping @Sendable () -> Void, onClose: @escaping @Sendable () -> Void) {
        self.onText = onText
        self.onReadComplete = onReadComplete
        self.onClose = onClose
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        onReadComplete()
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if frame.fin { onText(frame.unmaskedData) } else { fragments = frame.unmaskedData }
        case .continuation:
            var data = frame.unmaskedData
            fragments?.writeBuffer(&data)
            if frame.fin, let whole = fragments {
                fragments = nil
                onText(whole)
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
