import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket
import ParlaProtocol
import ServiceLifecycle

/// The Parla relay: a WebSocket endpoint at `/v1`, `GET /healthz` and `GET /metrics`,
/// a store-and-forward mailbox, and periodic expiry. Run it inside a `ServiceGroup`;
/// on graceful shutdown it closes every connection with 1001 "going away" first.
public final class Relay: Service {
    public let configuration: RelayConfiguration
    public let store: any MailboxStore
    let registry: SessionRegistry
    let metrics = RelayMetrics()
    let prekeyLimiter = PrekeyFetchLimiter()
    let blobs: BlobStore
    let logger: Logger
    private let port = Promise<Int>()

    /// With `cluster`, this is one node of several sharing `store` (see `ClusterSignals`).
    public init(configuration: RelayConfiguration, store: (any MailboxStore)? = nil, cluster: (any ClusterSignals)? = nil, logger: Logger) throws {
        self.configuration = configuration
        self.registry = SessionRegistry(cluster: cluster)
        self.store = try store ?? SQLiteMailboxStore(directory: configuration.dataDirectory, diskReserveBytes: configuration.diskReserveBytes)
        self.logger = logger
        blobs = try BlobStore(directory: configuration.dataDirectory, quotaBytes: configuration.blobQuotaBytes, logger: logger)
    }

    /// The TCP port the relay listens on, once it is listening.
    public func boundPort() async throws -> Int {
        try await port.value()
    }

    public func run() async throws {
        let relayIdentity = try await store.relayIdentity()
        let app = try makeApplication(relayIdentity: relayIdentity)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: Maintenance(relay: self), successTerminationBehavior: .ignore),
                .init(service: app),
                .init(service: ConnectionCloser(registry: registry)),
            ] + (registry.cluster.map { [.init(service: ClusterListener(cluster: $0, registry: registry, logger: logger))] } ?? []),
            logger: logger))
        do {
            try await group.run()
        } catch {
            port.resolve(.failure(error))
            throw error
        }
    }

    /// Checkpoints the database so deleted messages leave no trace in the log. Runs
    /// on its own shortly after deletions; tests call it to check the files at once.
    public func purgeDeletedData() async throws {
        try await store.purgeDeletedData()
    }

    /// Deletes undelivered items past their TTL and tells their senders.
    public func expireNow() async throws {
        let now = configuration.now()
        let outcome = try await store.expire(now: now, receiptExpiresAt: now + configuration.ttlMillis)
        if outcome.expiredMessages > 0 {
            metrics.messagesExpired.increment(by: Int64(outcome.expiredMessages))
            logger.info("expired undelivered messages", metadata: ["count": "\(outcome.expiredMessages)"])
        }
        registry.wake(outcome.notified)
        await blobs.expire(now: now, ttlMillis: configuration.ttlMillis)
    }

    private func makeApplication(relayIdentity: RelayIdentity) throws -> some Service {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { [self] request, _ -> Response in
            if let token = configuration.metricsToken, request.headers[.authorization] != "Bearer \(token)" {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                                body: .init(byteBuffer: ByteBuffer(string: "metrics need 'Authorization: Bearer TOKEN' (--metrics-token)\n")))
            }
            // Counting the mailboxes reads the database: at most once per interval, however
            // often /metrics is asked (a scrape loop cannot load the store).
            if metrics.mailboxDepthIsStale(), let stats = try? await store.stats() {
                metrics.mailboxDepth.set(Int64(stats.pendingMessages))
            }
            metrics.connections.set(Int64(registry.connectionCount))
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }

        let channelConfiguration = RelayChildChannel.Configuration(
            path: ProtocolVersion.path,
            maxFrameSize: configuration.hardFrameLimit,
            pingInterval: TimeAmount(configuration.pingInterval),
            closeTimeout: .seconds(5),
            readPauseBytes: 1 << 20,
            requestHeadTimeout: TimeAmount(configuration.requestHeadTimeout),
            httpIdleTimeout: configuration.httpIdleTimeout,
            limiter: ConnectionLimiter(maxPerAddress: configuration.maxConnectionsPerAddress),
            refused: { [metrics] in metrics.connectionsRefused.increment() })
        var tls: TLSConfiguration?
        if let certPath = configuration.tlsCertificatePath, let keyPath = configuration.tlsKeyPath {
            let certificates = try NIOSSLCertificate.fromPEMFile(certPath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            tls = TLSConfiguration.makeServerConfiguration(certificateChain: certificates, privateKey: .privateKey(key))
        }
        let serve: @Sendable (WebSocketConnection, Logger) async -> Void = { [self] connection, logger in
            await serveConnection(connection, relayIdentity: relayIdentity, logger: logger)
        }
        let server = HTTPServerBuilder { [tls] responder -> any ServerChildChannel in
            let relayChannel = FlushCoalescingChannel(base: RelayChildChannel(responder: responder, configuration: channelConfiguration, serve: serve))
            guard let tls else { return relayChannel }
            return try TLSChannel(relayChannel, tlsConfiguration: tls)
        }
        let port = self.port
        var appLogger = logger
        appLogger[metadataKey: "component"] = "http"
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "parla-relay"),
            onServerRunning: { channel in
                port.resolve(.success(channel.localAddress?.port ?? 0))
            },
            logger: appLogger)
    }

    /// One upgraded connection, for its whole life: the session reads messages here, in this
    /// task; its frames are written by a writer task, its acknowledgements released in order
    /// by another.
    private func serveConnection(_ connection: WebSocketConnection, relayIdentity: RelayIdentity, logger: Logger) async {
        let frames = ChannelFrameWriter(channel: connection.channel)
        let outgoing = BatchQueue<Outgoing>()
        let pendingAcks = BatchQueue<Session.PendingAck>()
        let deps = Session.Dependencies(store: store, registry: registry, metrics: metrics, configuration: configuration, logger: self.logger,
                                            prekeyLimiter: prekeyLimiter, blobs: blobs)
        let session = Session(deps: deps, relayIdentity: relayIdentity, output: outgoing, acks: pendingAcks)
        guard registry.register(session) else {
            connection.close(code: 1001, reason: "relay is shutting down")
            return
        }
        metrics.connections.increment()
        defer { metrics.connections.decrement() }

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var texts: [String] = []
                while let batch = await outgoing.next() {
                    for item in batch {
                        switch item {
                        case .text(let text):
                            texts.append(text)
                        case .close(let code, let reason):
                            // Everything before the close leaves first: the close frame is written behind these.
                            if let pending = frames.write(texts) { try? await pending.get() }
                            connection.close(code: code, reason: reason)
                            return
                        }
                    }
                    if let pending = frames.write(texts) { try? await pending.get() }
                    texts.removeAll(keepingCapacity: true)
                }
            }
            group.addTask {
                while let batch = await pendingAcks.next() {
                    for pending in batch { await session.finishAccept(pending) }
                }
            }
            // A timer on the event loop rather than a sleeping task: a task's memory would stay
            // with every connection for the whole timeout, and nearly every client logs in long before.
            let authDeadline = connection.channel.eventLoop.scheduleTask(in: TimeAmount(configuration.authTimeout)) {
                Task { await session.authDeadlinePassed() }
            }
            defer { authDeadline.cancel() }

            await session.start(onAuthenticated: { authDeadline.cancel() })
            while let messages = await connection.messages() {
                for message in messages {
                    switch message {
                    case .text(let text):
                        await session.receive(text: text, byteCount: text.utf8.count)
                    case .binary:
                        await session.receiveBinary()
                    }
                }
                connection.consumed(messages)
            }
            logger.trace("connection closed")
            await session.disconnected()
            group.cancelAll()
        }
        // The loop also ends when the server cancels this task (a shutdown that ran out of
        // time): the socket must not outlive it.
        connection.channel.close(promise: nil)
    }
}

/// First to stop on shutdown: tells every client the relay is going away.
struct ConnectionCloser: Service {
    let registry: SessionRegistry

    func run() async throws {
        try? await gracefulShutdown()
        for session in registry.beginShutdown() {
            await session.shutDown()
        }
        // Give clients a moment to see the close frame before the server stops.
        let deadline = ContinuousClock.now + .seconds(3)
        while registry.connectionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Periodic housekeeping: expiry of old items and purging of deleted bytes.
struct Maintenance: Service {
    let relay: Relay

    func run() async throws {
        let config = relay.configuration
        var sinceExpiry: Duration = .zero
        var commitsAtPurge = -1
        var commitsAtLastTick = -1
        var ticksSincePurge = 0
        var lowOnSpace = false
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: config.purgeInterval) }
            } catch {
                break
            }
            sinceExpiry += config.purgeInterval
            if sinceExpiry >= config.expiryInterval {
                sinceExpiry = .zero
                try? await relay.expireNow()
            }
            // A TRUNCATE checkpoint holds the writer while it copies and syncs, so under load
            // it waits for a quiet moment: deleted bytes leave the log within one interval of
            // the store going idle, and after at most `purgeMaxDelay` while it stays busy.
            let commits = relay.store.commits
            ticksSincePurge += 1
            if commits != commitsAtPurge, commits == commitsAtLastTick || config.purgeInterval * ticksSincePurge >= config.purgeMaxDelay {
                try? await relay.purgeDeletedData()
                commitsAtPurge = commits
                ticksSincePurge = 0
            }
            commitsAtLastTick = commits
            if relay.store.isLowOnSpace != lowOnSpace {
                lowOnSpace.toggle()
                if lowOnSpace {
                    relay.logger.critical("the disk is full: the relay gave up its space reserve and records only deliveries; new messages are refused until space is freed",
                                          metadata: ["data": "\(config.dataDirectory)"])
                } else {
                    relay.logger.notice("there is disk space again: new messages are accepted")
                }
            }
        }
        try? await relay.purgeDeletedData()
    }
}

/// Hands the other nodes' signals to the sessions connected here, for as long as the relay runs.
struct ClusterListener: Service {
    let cluster: any ClusterSignals
    let registry: SessionRegistry
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown { [cluster, registry] in
            try await cluster.listen { signal in await registry.handle(signal) }
        }
    }
}
