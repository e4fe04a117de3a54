import Foundation
import ParlaRelayPostgres

/// A throwaway PostgreSQL cluster (Debian's `postgresql` package) on a free loopback port,
/// its data in a temporary directory, for tests of relay nodes sharing one database. Run as
/// the `postgres` user when the tests run as root (PostgreSQL refuses root).
public final class TestPostgres: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case setupFailed(String)
        case didNotStart(String)

        public var description: String {
            switch self {
            case .notInstalled: "PostgreSQL is not installed (apt-get install postgresql): looked for /usr/lib/postgresql/*/bin/postgres"
            case .setupFailed(let log): "initdb failed:\n\(log)"
            case .didNotStart(let log): "PostgreSQL did not start:\n\(log)"
            }
        }
    }

    public let port: Int
    public let directory: String
    public var logPath: String { directory + "/postgres.log" }
    private let binaries: String
    private let lock = NSLock()
    private var pid: pid_t?

    /// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication on loopback).
    public var url: PostgresURL { try! PostgresURL("postgres://postgres@127.0.0.1:\(port)/postgres") }

    /// Creates and starts a cluster.
    public static func start() async throws -> TestPostgres {
        guard let binaries = findBinaries() else { throw Failure.notInstalled }
        let directory = makeTemporaryDirectory(prefix: "parla-pg")
        let server = TestPostgres(binaries: binaries, directory: directory, port: RelayProcess.freePort())
        try server.prepareDirectory()
        let initdbLog = directory + "/initdb.log"
        let status = await spawnAndWait(server.asOwner([binaries + "/initdb", "-D", server.dataPath, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                                        "--no-sync", "--no-instructions"]), outputPath: initdbLog)
        guard status == 0 else {
            throw Failure.setupFailed((try? String(contentsOfFile: initdbLog, encoding: .utf8)) ?? "exit status \(status)")
        }
        try await server.startServer()
        return server
    }

    private init(binaries: String, directory: String, port: Int) {
        self.binaries = binaries
        self.directory = directory
        self.port = port
    }

    private var dataPath: String { directory + "/data" }

    private static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        return versions.map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/postgres") }
    }

    private var runsAsRoot: Bool { geteuid() == 0 }

    /// `arguments` run as the cluster's owner (`setpriv` execs, so the pid is the program's own).
    private func asOwner(_ arguments: [String]) -> [String] {
        runsAsRoot ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + arguments : arguments
    }

    private func prepareDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        FileManager.default.createFile(atPath: directory + "/initdb.log", contents: nil)
        if runsAsRoot {
            for path in [directory, logPath, directory + "/initdb.log"] {
                try FileManager.default.setAttributes([.ownerAccountName: "postgres", .groupOwnerAccountName: "postgres"], ofItemAtPath: path)
            }
        }
    }

    private func startServer() async throws {
        let arguments = asOwner([binaries + "/postgres", "-D", dataPath, "-p", String(port), "-k", directory,
                                 "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "shared_buffers=32MB"])
        guard let started = spawn(arguments, outputPath: logPath) else { throw Failure.didNotStart("cannot run \(arguments[0])") }
        lock.withLock { pid = started }
        RunningServers.shared.add(started)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if isAccepting() { return }
            if !isRunning(started) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stop()
        throw Failure.didNotStart((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    /// True once the server says "ready to accept connections" since its latest start.
    private func isAccepting() -> Bool {
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard let start = log.range(of: "starting PostgreSQL", options: .backwards) else { return false }
        return log[start.upperBound...].contains("ready to accept connections")
    }

    private func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// Immediate shutdown (SIGQUIT): every backend exits at once without a checkpoint, as in a
    /// crash; only what was committed to the WAL survives. Then the server starts again.
    public func crashAndRestart(downtime: Duration = .milliseconds(500)) async throws {
        await signalAndReap(SIGQUIT)
        try await Task.sleep(for: downtime)
        try await startServer()
    }

    /// Fast shutdown, then whatever is left is killed; the data directory goes.
    public func stop() async {
        await signalAndReap(SIGINT)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func signalAndReap(_ signal: Int32) async {
        guard let pid = lock.withLock({ () -> pid_t? in defer { self.pid = nil }; return self.pid }) else { return }
        defer { RunningServers.shared.remove(pid) }
        Foundation.kill(pid, signal)
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if !isRunning(pid) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        Foundation.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// Servers still running when the test process exits (a test's deferred stop may not have
/// run yet) get an immediate shutdown, so no cluster outlives the test run.
private final class RunningServers: @unchecked Sendable {
    static let shared = RunningServers()
    private let lock = NSLock()
    private var pids = Set<pid_t>()

    private init() {
        atexit {
            for pid in RunningServers.shared.lock.withLock({ RunningServers.shared.pids }) { kill(pid, SIGQUIT) }
        }
    }

    func add(_ pid: pid_t) { _ = lock.withLock { pids.insert(pid) } }
    func remove(_ pid: pid_t) { _ = lock.withLock { pids.remove(pid) } }
}
