import Foundation
import NIOCore
import NIOPosix

/// A TCP proxy on loopback that forwards to a target port and cuts each connection
/// after a random lifetime, to test that clients survive dropped links.
public final class ChaosProxy: Sendable {
    public let port: Int
    private let serverChannel: any Channel
    private let state: ProxyState

    public var cutsSoFar: Int { state.cuts }
    public var connectionsSoFar: Int { state.connections }

    /// Cuts every connection after a lifetime drawn uniformly from `lifetime` (milliseconds); nil never cuts.
    public static func start(forwardingTo targetPort: Int, lifetime: ClosedRange<Int>?) async throws -> ChaosProxy {
        let state = ProxyState(lifetime: lifetime)
        let group = MultiThreadedEventLoopGroup.singleton
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { inbound in
                state.connected()
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        let (a, b) = Glue.pair(state: state)
                        return inbound.pipeline.addHandler(a).flatMap { outbound.pipeline.addHandler(b) }.map {
                            a.peer = outbound
                            b.peer = inbound
                            if let delay = state.nextLifetime() {
                                inbound.eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) {
                                    if inbound.isActive {
                                        state.cut()
                                        inbound.close(promise: nil)
                                        outbound.close(promise: nil)
                                    }
                                }
                            }
                        }
                    }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        return ChaosProxy(port: channel.localAddress?.port ?? 0, serverChannel: channel, state: state)
    }

    private init(port: Int, serverChannel: any Channel, state: ProxyState) {
        self.port = port
        self.serverChannel = serverChannel
        self.state = state
    }

    /// Stops cutting; connections made from now on live on.
    public func calm() { state.calm() }

    /// Silently drops all traffic while keeping sockets open: a peer that vanished without a FIN.
    public func freeze() { state.setFrozen(true) }
    public func thaw() { state.setFrozen(false) }

    public func stop() async {
        try? await serverChannel.close()
    }
}

private final class ProxyState: @unchecked Sendable {
    private let lock = NSLock()
    private var lifetime: ClosedRange<Int>?
    private var _cuts = 0
    private var _connections = 0

    init(lifetime: ClosedRange<Int>?) { self.lifetime = lifetime }

    var cuts: Int { lock.withLock { _cuts } }
    var connections: Int { lock.withLock { _connections } }
    func connected() { lock.withLock { _connections += 1 } }
    func cut() { lock.withLock { _cuts += 1 } }
    func calm() { lock.withLock { lifetime = nil } }
    func nextLifetime() -> Int? { lock.withLock { lifetime.map { Int.random(in: $0) } } }
    private var _frozen = false
    var frozen: Bool { lock.withLock { _frozen } }
    func setFrozen(_ value: Bool) { lock.withLock { _frozen = value } }
}

/// Copies bytes read on one channel to its peer; closing one side closes the other.
private final class Glue: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var peer: (any Channel)?
    private let state: ProxyState

    private init(state: ProxyState) { self.state = state }

    static func pair(state: ProxyState) -> (Glue, Glue) { (Glue(state: state), Glue(state: state)) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if state.frozen { return }
        peer?.writeAndFlush(buffer, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
