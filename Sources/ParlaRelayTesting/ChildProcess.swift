import Foundation

/// Runs a program to completion without blocking Swift's cooperative threads
/// (on a 2-core machine, two blocked threads would starve an in-process relay).
/// Set `captureOutput` to false for programs that leave a daemon behind holding
/// their output open (such as `tmux new-session`): only the exit is awaited.
public func runChildProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil, captureOutput: Bool = true) async throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = captureOutput ? out : FileHandle.nullDevice
    process.standardError = captureOutput ? err : FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    return try await withCheckedThrowingContinuation { continuation in
        let group = DispatchGroup()
        let outData = DataBox(), errData = DataBox()
        if captureOutput {
        group.enter()
        DispatchQueue.global().async {
            outData.data = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        }
        group.enter()
        process.terminationHandler = { _ in group.leave() }
        do {
            try process.run()
        } catch {
            continuation.resume(throwing: error)
            return
        }
        group.notify(queue: .global()) {
            continuation.resume(returning: (process.terminationStatus, String(decoding: outData.data, as: UTF8.self), String(decoding: errData.data, as: UTF8.self)))
        }
    }
}

/// Waits for a process to exit without blocking a cooperative thread.
public func waitForExit(_ process: Process) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().async {
            process.waitUntilExit()
            continuation.resume()
        }
    }
}

/// Written by one reader thread, read after the group is done.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// Starts a program with plain `posix_spawn` and waits for it with `waitpid`, for
/// programs that leave a daemon behind (Foundation's `Process` only notices the exit
/// once every descendant has closed a descriptor it shares with the child).
public func spawnAndWait(_ arguments: [String], outputPath: String? = nil) async -> Int32 {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            guard let pid = spawn(arguments, outputPath: outputPath) else {
                continuation.resume(returning: -1)
                return
            }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            continuation.resume(returning: status)
        }
    }
}

/// `posix_spawnp` with stdin from /dev/null and output to `outputPath` (appended) or
/// /dev/null. The child starts with no signals blocked and default dispositions: it is
/// often spawned from a Dispatch thread, which blocks every signal, and a tmux server
/// inheriting that mask would pass it on, leaving the UI under test deaf to SIGHUP.
func spawn(_ arguments: [String], outputPath: String?) -> pid_t? {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGWINCH, SIGCHLD] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = arguments.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
    }
    guard posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ) == 0 else { return nil }
    return pid
}

/// A long-running helper (such as `sshd -D`) started with `posix_spawn`. Foundation's
/// `Process` must not be used for daemons that close every inherited descriptor at
/// start-up: it then takes them for exited and blocks its monitor thread in `waitpid`,
/// which stalls every other `Process` in the test run.
public final class BackgroundProcess: Sendable {
    public let pid: pid_t

    /// Starts `arguments` with stdin from /dev/null and stdout and stderr appended to `logPath`.
    public init(_ arguments: [String], logPath: String) throws {
        guard let pid = spawn(arguments, outputPath: logPath) else { throw POSIXError(.ENOENT) }
        self.pid = pid
    }

    public var isRunning: Bool { Foundation.kill(pid, 0) == 0 && !isZombie }

    private var isZombie: Bool {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// SIGTERM and reap in the background.
    public func stop() {
        let pid = self.pid
        Foundation.kill(pid, SIGTERM)
        DispatchQueue.global().async {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
