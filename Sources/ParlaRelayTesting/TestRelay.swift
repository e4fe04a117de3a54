import Foundation
import Logging
import ParlaRelay
import ServiceLifecycle

/// A real relay on a free loopback port with its own temporary data directory, for
/// tests of the relay and of anything that talks to it.
public final class TestRelay: Sendable {
    public let relay: Relay
    public let port: Int
    public let dataDirectory: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    /// Run after the relay stopped (the PostgreSQL cluster a test relay brought along).
    private let afterStop: (@Sendable () async -> Void)?

    public var url: String { "ws://127.0.0.1:\(port)/v1" }
    public var httpBase: String { "http://127.0.0.1:\(port)" }
    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("relay.sqlite") }

    /// Starts a relay. Pass `dataDirectory` to reopen an earlier relay's data.
    public static func start(dataDirectory: String? = nil, configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> TestRelay {
        let directory = dataDirectory ?? makeTemporaryDirectory(prefix: "parla-relay-test")
        let config = testConfiguration(directory: directory, configure: configure)
        let logger = testLogger(label: "test-relay")
        let relay = try Relay(configuration: config, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [relay], logger: logger))
        let task = Task { try await group.run() }
        let port = try await relay.boundPort()
        return TestRelay(relay: relay, port: port, dataDirectory: directory, group: group, task: task)
    }

    /// Port 0, the given data directory, and settings sized for tests.
    static func testConfiguration(directory: String, configure: (inout RelayConfiguration) -> Void) -> RelayConfiguration {
        var config = RelayConfiguration()
        config.port = 0
        config.dataDirectory = directory
        // Tests that never confirm would otherwise wait the full hold time for their acknowledgements.
        config.liveHold = .milliseconds(250)
        // Hundreds of test relays would each set 16 MiB aside.
        config.diskReserveBytes = 1 << 20
        configure(&config)
        return config
    }

    /// Quiet unless PARLA_TEST_LOG names a level.
    static func testLogger(label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["PARLA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    init(relay: Relay, port: Int, dataDirectory: String, group: ServiceGroup, task: Task<Void, any Error>, afterStop: (@Sendable () async -> Void)? = nil) {
        self.afterStop = afterStop
        self.relay = relay
        self.port = port
        self.dataDirectory = dataDirectory
        self.group = group
        self.task = task
    }

    /// A throwaway self-signed certificate for `localhost` (openssl), for relays that serve
    /// wss://; `subjectAltName` as openssl writes it, e.g. "DNS:localhost" or "IP:127.0.0.1".
    public static func makeCertificate(subjectAltName: String? = nil) async throws -> (certificate: String, key: String) {
        let directory = makeTemporaryDirectory(prefix: "parla-tls")
        let certificate = directory + "/cert.pem", key = directory + "/key.pem"
        let result = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/openssl"), [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
        ] + (subjectAltName.map { ["-addext", "subjectAltName=\($0)"] } ?? []))
        guard result.status == 0 else { throw TLSSetupFailed(output: result.err) }
        return (certificate, key)
    }

    public struct TLSSetupFailed: Error, CustomStringConvertible {
        public let output: String
        public var description: String { "openssl could not make a test certificate: \(output)" }
    }

    /// Graceful shutdown, as on SIGTERM.
    /// Shuts down gracefully; a connection that does not let go within 10 s is cut.
    public func stop() async {
        await group.triggerGracefulShutdown()
        if await !waitForTask(task, timeout: .seconds(10)) {
            task.cancel()
            _ = await waitForTask(task, timeout: .seconds(5))
        }
        await afterStop?()
    }

    /// Every byte of the database and its write-ahead log, for checks that nothing lingers.
    public func databaseFileBytes() throws -> Data {
        var bytes = Data()
        for suffix in ["", "-wal", "-journal"] {
            if let data = FileManager.default.contents(atPath: databasePath + suffix) {
                bytes.append(data)
            }
        }
        return bytes
    }
}

/// A fresh directory under the system temporary directory.
public func makeTemporaryDirectory(prefix: String) -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
