import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// Each accepted connection of the relay: HTTP/1.1 for `/healthz` and `/metrics` (answered by
/// hummingbird's router), or a WebSocket upgrade at the protocol's path, served by the relay's
/// own `WebSocketConnectionHandler` and session loop. hummingbird's WebSocket channel gave
/// every connection a task group, a ping task and an async inbound stream of its own; here an
/// upgraded connection runs in the one task hummingbird's server gives every connection.
struct RelayChildChannel: ServerChildChannel, HTTPChannelHandler {
    struct Configuration: Sendable {
        /// The only path that upgrades (`/v1`).
        var path: String
        var maxFrameSize: Int
        var pingInterval: TimeAmount?
        var closeTimeout: TimeAmount
        /// Read from a socket no further while this much is waiting for its session.
        var readPauseBytes: Int
        /// The first read buffer of a connection (NIO's default is 2 KiB).
        var initialReadBufferBytes = 512
        /// How long a connection may take to send its first request head.
        var requestHeadTimeout: TimeAmount
        /// How long a plain HTTP connection may wait between requests.
        var httpIdleTimeout: Duration
        var limiter: ConnectionLimiter
        /// Counts connections refused for their address.
        var refused: @Sendable () -> Void
    }

    struct TooManyConnections: Error {}

    enum UpgradeResult: Sendable {
        case webSocket(WebSocketConnection)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let configuration: Configuration
    /// Runs for the life of an upgraded connection.
    let serve: @Sendable (WebSocketConnection, Logger) async -> Void

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let configuration = self.configuration
            if let address = channel.remoteAddress?.ipAddress {
                guard configuration.limiter.admit(address) else {
                    configuration.refused()
                    channel.close(promise: nil)
                    throw TooManyConnections()
                }
                channel.closeFuture.whenComplete { _ in configuration.limiter.release(address) }
            }
            let headDeadline = RequestHeadDeadline(timeout: configuration.requestHeadTimeout)
            try channel.pipeline.syncOperations.addHandler(headDeadline, position: .first)
            // The channel keeps its last read buffer for the next read: NIO's first size (2 KiB)
            // stayed with every idle connection. Busy ones grow it after the first full read.
            try channel.syncOptions?.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                minimum: 64, initial: configuration.initialReadBufferBytes, maximum: 65_536))
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: configuration.maxFrameSize,
                enableAutomaticErrorHandling: true,
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
                    return channel.eventLoop.makeSucceededFuture(path == configuration.path ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        channel.pipeline.syncOperations.removeHandler(headDeadline, promise: nil)
                        let connection = WebSocketConnection(channel: channel, readPauseBytes: configuration.readPauseBytes)
                        try channel.pipeline.syncOperations.addHandler(WebSocketConnectionHandler(
                            connection: connection, maxMessageSize: configuration.maxFrameSize,
                            pingInterval: configuration.pingInterval, closeTimeout: configuration.closeTimeout))
                        return .webSocket(connection)
                    }
                })
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        channel.pipeline.syncOperations.removeHandler(headDeadline, promise: nil)
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: configuration.httpIdleTimeout, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return upgradeAttempted.value ? .failedUpgrade(http) : .notUpgraded(http)
                    }
                })
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrade)
            pipeline.enablePipelining = false
            pipeline.enableErrorHandling = false
            pipeline.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket(let connection):
                await serve(connection, logger)
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .failedUpgrade(let http):
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])),
                        .end(nil),
                    ])
                }
            }
        } catch {
            logger.debug("connection ended before it was served", metadata: ["error": "\(error)"])
        }
    }
}
