import Logging
import ServiceLifecycle

/// A relay running inside another program (`parla demo`, `parla-bench`) on a free
/// loopback port, under its own service group so it shuts down gracefully.
public final class EmbeddedRelay: Sendable {
    public let url: String
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    /// Starts a relay storing its data in `dataDirectory`; returns once it listens.
    public static func start(dataDirectory: String, logger: Logger, configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> EmbeddedRelay {
        var config = RelayConfiguration()
        config.port = 0
        config.dataDirectory = dataDirectory
        configure(&config)
        let relay = try Relay(configuration: config, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [relay], logger: logger))
        let task = Task { try await group.run() }
        let port = try await relay.boundPort()
        return EmbeddedRelay(url: "ws://127.0.0.1:\(port)/v1", group: group, task: task)
    }

    private init(url: String, group: ServiceGroup, task: Task<Void, Error>) {
        self.url = url
        self.group = group
        self.task = task
    }

    /// Graceful shutdown: in-flight commits finish first.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
