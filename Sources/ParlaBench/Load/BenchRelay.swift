import Foundation
import NIOCore
import NIOPosix
import ParlaRelayTesting

/// The relay under test: a `parla-relay` the bench starts itself (next to its own binary,
/// with a fresh data directory, no rate limit and a large mailbox quota), or one given by
/// `--server`, found by its listening port or `--relay-pid` so its CPU and memory can be read.
public final class BenchRelay: @unchecked Sendable {
    public let url: String
    public let pid: Int32?
    private let process: RelayProcess?
    private let child: Process?

    public enum Failure: Error, CustomStringConvertible {
        case badServer(String)
        public var description: String {
            switch self {
            case .badServer(let url): "'\(url)' is not a ws://HOST:PORT/v1 URL"
            }
        }
    }

    private init(url: String, pid: Int32?, process: RelayProcess?, child: Process? = nil) {
        self.url = url
        self.pid = pid
        self.process = process
        self.child = child
    }

    /// Starts the bare WebSocket relay (`parla-bench bare-relay`) as a child process.
    public static func startBare() async throws -> BenchRelay {
        let portFile = NSTemporaryDirectory() + "/parla-bench-bare-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: portFile) }
        let process = Process()
        process.executableURL = try RelayProcess.executable(named: "parla-bench")
        process.arguments = ["bare-relay", "--port", "0", "--port-file", portFile]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                return BenchRelay(url: "ws://127.0.0.1:\(port)/", pid: process.processIdentifier, process: nil, child: process)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw Failure.badServer("the bare relay did not start")
    }

    public static func start(server: String?, relayPID: Int32?, executable: String = "parla-relay") async throws -> BenchRelay {
        if let server {
            // Several nodes of one relay, comma-separated: the simulated users are spread over them.
            let nodes = server.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            var first: URL?
            for node in nodes {
                guard let url = URL(string: node), url.scheme == "ws" || url.scheme == "wss", url.host != nil else { throw Failure.badServer(node) }
                first = first ?? url
            }
            guard let first else { throw Failure.badServer(server) }
            // CPU and memory are read for the first node (or --relay-pid).
            let pid = relayPID ?? first.port.flatMap { ProcessSample.pidListening(onPort: $0) }
            return BenchRelay(url: nodes.joined(separator: ","), pid: pid, process: nil)
        }
        let process = try await RelayProcess.start(arguments: [
            "--rate-limit", "0", "--mailbox-quota", "100000000", "--max-connections-per-ip", "0", "--log-level", "info",
        ])
        return BenchRelay(url: process.url, pid: process.process.processIdentifier, process: process)
    }

    public func sample() -> ProcessSample? { pid.flatMap(ProcessSample.read(pid:)) }

    /// Stops the relay if the bench started it (and removes its data).
    public func stop() async {
        if let child {
            child.terminate()
            await waitForExit(child)
        }
        guard let process else { return }
        await process.terminate()
        try? FileManager.default.removeItem(atPath: process.dataDirectory)
    }
}

/// CPU and memory of the relay and of the generator over one measured phase.
public struct CostReport: Codable, Sendable, Equatable {
    public var relayCpuSeconds: Double?
    public var relayCpuMicrosecondsPerMessage: Double?
    public var relayRssBytes: Int?
    public var benchCpuSeconds: Double
    /// Share of one core the generator used during the phase.
    public var benchCoreShare: Double
    /// True when the generator, not the relay, was probably the limit: it used more CPU than
    /// the relay, or nearly a whole core of its own.
    public var generatorLimited: Bool

    public var line: String {
        var parts: [String] = []
        if let cpu = relayCpuSeconds, let per = relayCpuMicrosecondsPerMessage {
            parts.append("relay CPU \(format(cpu)) s (\(format(per)) µs/message)")
        }
        if let rss = relayRssBytes { parts.append("relay RSS \(rss / 1_048_576) MiB") }
        parts.append("generator CPU \(format(benchCpuSeconds)) s (\(Int(benchCoreShare * 100))% of a core)")
        if generatorLimited { parts.append("⚠ the generator was probably the bottleneck") }
        return parts.joined(separator: ", ")
    }
}

func format(_ value: Double) -> String { String(format: value < 10 ? "%.2f" : "%.0f", value) }

/// Measures relay and generator CPU between `begin` and `end`.
struct CostMeter {
    let relay: BenchRelay
    let relayStart: ProcessSample?
    let benchStart = ProcessSample.own()
    let wallStart = ContinuousClock.now

    init(relay: BenchRelay) {
        self.relay = relay
        relayStart = relay.sample()
    }

    func end(messages: Int) -> CostReport {
        let wall = max(1e-9, (ContinuousClock.now - wallStart).seconds)
        let bench = ProcessSample.own().cpuSeconds - benchStart.cpuSeconds
        let relayEnd = relay.sample()
        let relayCPU = relayEnd.flatMap { end in relayStart.map { end.cpuSeconds - $0.cpuSeconds } }
        return CostReport(relayCpuSeconds: relayCPU,
                          relayCpuMicrosecondsPerMessage: relayCPU.map { messages > 0 ? $0 * 1e6 / Double(messages) : 0 },
                          relayRssBytes: relayEnd?.residentBytes,
                          benchCpuSeconds: bench, benchCoreShare: bench / wall,
                          generatorLimited: bench / wall > 0.9 || (relayCPU.map { bench > $0 } ?? false))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Connects `peers` with at most `concurrency` logins in flight; returns logins per second.
/// With `closeEach`, each connection closes as soon as it is in, so at most `concurrency` are
/// ever open (registering users without holding their connections).
func connectAll(_ peers: [BenchPeer], url: String, as login: BenchPeer.Login, sourceAddresses: [String] = [], concurrency: Int = 64,
                closeEach: Bool = false, group: any EventLoopGroup) async throws -> Double {
    let started = ContinuousClock.now
    let nodes = url.split(separator: ",").map(String.init)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        var next = 0
        func add() {
            let peer = peers[next]
            let source = sourceAddresses.isEmpty ? nil : sourceAddresses[next % sourceAddresses.count]
            let node = nodes[next % nodes.count]
            tasks.addTask {
                try await peer.connect(url: node, as: login, sourceAddress: source, group: group)
                if closeEach { peer.close() }
            }
            next += 1
        }
        while next < min(concurrency, peers.count) { add() }
        while try await tasks.next() != nil {
            if next < peers.count { add() }
        }
    }
    return Double(peers.count) / max(1e-9, (ContinuousClock.now - started).seconds)
}

/// A fresh name prefix per run, so runs against a long-lived relay never collide.
func runPrefix() -> String {
    "b" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
}
