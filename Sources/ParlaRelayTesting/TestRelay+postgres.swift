import Foundation
import Logging
import ParlaRelay
import ParlaRelayPostgres
import ServiceLifecycle

extension TestRelay {
    /// Starts a relay node on `url`'s PostgreSQL, named `node` among the nodes sharing it.
    /// Its store starts first and stops last, as `parla-relay serve --store postgres://…` runs them.
    public static func start(postgres url: PostgresURL, node: String, configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> TestRelay {
        let directory = makeTemporaryDirectory(prefix: "parla-relay-node")
        var config = RelayConfiguration()
        config.port = 0
        config.dataDirectory = directory
        config.liveHold = .milliseconds(250)
        config.diskReserveBytes = 1 << 20
        configure(&config)
        var logger = Logger(label: "test-relay-\(node)")
        logger.logLevel = ProcessInfo.processInfo.environment["PARLA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let store = PostgresMailboxStore(url: url, connectPatience: .seconds(10), logger: logger)
        let signals = PostgresClusterSignals(store: store, node: node, heartbeat: .milliseconds(500), staleAfter: .seconds(3), logger: logger)
        let relay = try Relay(configuration: config, store: store, cluster: signals, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [store, relay], logger: logger))
        let task = Task { try await group.run() }
        try await store.waitUntilReady()
        let port = try await relay.boundPort()
        return TestRelay(relay: relay, port: port, dataDirectory: directory, group: group, task: task)
    }
}
