import Foundation
import Logging
@testable import ParlaClient
import ParlaRelayTesting
import Testing

/// A registered profile plus a running engine for it.
final class RunningClient: @unchecked Sendable {
    let client: ParlaClient
    let log = EventLog()
    private var engine: Task<Void, Never>?
    private var reader: Task<Void, Never>?

    init(client: ParlaClient) {
        self.client = client
        let log = self.log
        reader = Task {
            for await event in client.events { await log.append(event) }
        }
    }

    var store: ClientStore { client.store }

    func start() {
        let client = self.client
        engine = Task { await client.run() }
    }

    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        guard let engine else { return }
        engine.cancel()
        if await !waitForTask(engine, timeout: .seconds(10)) {
            Issue.record("the engine did not stop within 10 s of being cancelled", sourceLocation: sourceLocation)
        }
        self.engine = nil
    }

    func shutdown(sourceLocation: SourceLocation = #_sourceLocation) async {
        await stop(sourceLocation: sourceLocation)
        await client.finishEvents()
        if let reader, await !waitForTask(reader, timeout: .seconds(5)) {
            Issue.record("the event stream did not end", sourceLocation: sourceLocation)
        }
    }
}

enum TestProfiles {
    static var quietLogger: Logger {
        var logger = Logger(label: "test-client")
        logger.logLevel = .critical
        return logger
    }

    static let fastRetry = ReconnectPolicy(base: .milliseconds(50), cap: .milliseconds(400), stableAfter: .seconds(5))

    /// Registers `name` on the relay at `url` in a fresh profile directory.
    static func register(_ name: String, url: String) async throws -> Profile {
        let home = makeTemporaryDirectory(prefix: "parla-profile-\(name)")
        return try await ParlaClient.register(name: name, server: url, invite: nil, directory: home, transport: WebSocketTransport(logger: quietLogger))
    }

    /// A registered profile and an engine (not started) for each name.
    static func engines(_ names: String..., on relay: TestRelay) async throws -> [RunningClient] {
        var engines: [RunningClient] = []
        for name in names { engines.append(try engine(for: try await register(name, url: relay.url))) }
        return engines
    }

    static func engine(for profile: Profile, server: String? = nil, policy: ReconnectPolicy = fastRetry) throws -> RunningClient {
        RunningClient(client: try ParlaClient(profile: profile, server: server, transport: WebSocketTransport(pingInterval: .seconds(2), connectTimeout: .seconds(3), logger: quietLogger), policy: policy, logger: quietLogger))
    }
}

/// Every event an engine emitted, with a way to wait for one.
actor EventLog {
    private(set) var events: [ClientEvent] = []

    func append(_ event: ClientEvent) { events.append(event) }

    /// Statuses an outgoing message went through, in order.
    func statuses(of id: String) -> [MessageStatus] {
        events.compactMap { event in
            switch event {
            case .messageAdded(let r) where r.id == id, .messageUpdated(let r) where r.id == id: r.status
            default: nil
            }
        }
    }

    func added() -> [MessageRecord] {
        events.compactMap { if case .messageAdded(let r) = $0, r.status == .received { return r } else { return nil } }
    }

    func connectionStates() -> [ConnectionState] {
        events.compactMap { if case .connection(let s) = $0 { return s } else { return nil } }
    }
}

/// Waits for `condition`, recording a failure that names `what` if it never holds.
func eventually(timeout: Duration = .seconds(15), _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool) async throws {
    if try await !waitUntil(timeout: timeout, condition) {
        Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    }
}

/// Runs the real `parla` executable and returns (exit status, stdout, stderr).
@discardableResult
func runParla(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
    try await runChildProcess(try RelayProcess.executable(named: "parla"), arguments)
}
