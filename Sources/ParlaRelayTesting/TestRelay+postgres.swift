import Foundation
import Logging
import ParlaRelay
import ParlaRelayPostgres
import ServiceLifecycle

extension TestRelay {
    /// A single node on a PostgreSQL cluster of its own, which goes when the relay stops: the
    /// same tests then check both stores.
    public static func startOnOwnPostgres(configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> TestRelay {
        let postgres = try await TestPostgres.start()
        do {
            return try await start(postgres: postgres.url, node: "only", afterStop: { await postgres.stop() }, configure: configure)
        } catch {
            await postgres.stop()
            throw error
        }
    }

    /// Starts a relay node on `url`'s PostgreSQL, named `node` among the nodes sharing it.
    /// Its store starts first and stops last, as `parla-relay serve --store postgres://…` runs them.
    public static func start(postgres url: PostgresURL, node: String, afterStop: (@Sendable () async -> Void)? = nil,
                             configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> TestRelay {
        let directory = makeTemporaryDirectory(prefix: "parla-relay-node")
        let config = testConfiguration(directory: directory, configure: configure)
        let logger = testLogger(label: "test-relay-\(node)")
        let store = PostgresMailboxStore(url: url, connectPatience: .seconds(10), logger: logger)
        let signals = PostgresClusterSignals(store: store, node: node, heartbeat: .milliseconds(500), staleAfter: .seconds(3), logger: logger)
        let relay = try Relay(configuration: config, store: store, cluster: signals, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [store, relay], logger: logger))
        let task = Task { try await group.run() }
        do {
            try await store.waitUntilReady()
            let port = try await relay.boundPort()
            return TestRelay(relay: relay, port: port, dataDirectory: directory, group: group, task: task, afterStop: afterStop)
        } catch {
            task.cancel()
            _ = await waitForTask(task, timeout: .seconds(10))
            throw error
        }
    }
}
