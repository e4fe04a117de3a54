import Foundation

/// The real `parla-relay` executable run as a child process, for tests that must
/// kill it with SIGKILL or check the command line itself.
public final class RelayProcess: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case executableNotFound([String])
        case didNotStart(String)

        public var description: String {
            switch self {
            case .executableNotFound(let tried): "parla-relay executable not found; looked in: \(tried.joined(separator: ", "))"
            case .didNotStart(let log): "parla-relay did not start:\n\(log)"
            }
        }
    }

    public let process: Process
    public let port: Int
    public let dataDirectory: String
    public let logPath: String

    public var url: String { "ws://127.0.0.1:\(port)/v1" }

    /// Finds a built executable next to the test binary, or in `.build/debug`.
    public static func executable(named name: String) throws -> URL {
        var candidates: [String] = []
        if let override = ProcessInfo.processInfo.environment["PARLA_BIN_DIR"] {
            candidates.append((override as NSString).appendingPathComponent(name))
        }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent(name).path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug/" + name)
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure.executableNotFound(candidates)
        }
        return URL(fileURLWithPath: found)
    }

    /// Starts `parla-relay --port 0 --data DIR ...` and waits until it is listening. Its log goes
    /// to `logDirectory` (the data directory unless given: a relay on a full disk still logs).
    public static func start(dataDirectory: String? = nil, port: Int = 0, arguments: [String] = [], logDirectory: String? = nil) async throws -> RelayProcess {
        let directory = dataDirectory ?? makeTemporaryDirectory(prefix: "parla-relay-proc")
        let logPath = ((logDirectory ?? directory) as NSString).appendingPathComponent("relay-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = try executable(named: "parla-relay")
        process.arguments = ["--port", String(port), "--data", directory] + arguments
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = log.range(of: #"url=wss?://127\.0\.0\.1:(\d+)/v1"#, options: .regularExpression) {
                let url = String(log[range])
                let port = Int(url.split(separator: ":").last!.split(separator: "/").first!)!
                return RelayProcess(process: process, port: port, dataDirectory: directory, logPath: logPath)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw Failure.didNotStart((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    /// A loopback port that was free a moment ago, for a relay that must come back on the same port.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    private init(process: Process, port: Int, dataDirectory: String, logPath: String) {
        self.process = process
        self.port = port
        self.dataDirectory = dataDirectory
        self.logPath = logPath
    }

    /// SIGKILL: no chance to flush or clean up anything.
    public func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        await waitForExit(process)
    }

    /// SIGTERM, then wait for the graceful exit; returns the exit status.
    @discardableResult
    public func terminate() async -> Int32 {
        process.terminate()
        await waitForExit(process)
        return process.terminationStatus
    }

    /// For `defer`: stop the process without waiting.
    public func terminateSoon() {
        if process.isRunning { process.terminate() }
    }

    public var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }
}
