import Foundation

/// Keeps one program at a time on a profile. Two engines on one identity would keep
/// logging each other out of the relay, and their outboxes would race; so the UI holds the
/// profile while it runs, and each `parla` command holds it while it works (a command
/// waits for another command to finish; next to the UI it is refused, with the reason).
/// The lock is an `flock` on `<profile>/lock`, so it disappears with the process, even
/// after `kill -9`; the file names the holder's process and role for the message.
public final class ProfileLock: Sendable {
    /// Who holds the profile: the full-screen UI, or a short command (`send`, `sync`, …).
    public enum Role: String, Sendable {
        case ui, command
    }

    private let descriptor: Int32

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Another UI has the profile open (asked by a UI).
        case heldBy(pid: Int32?, directory: String)
        /// The UI has the profile open (asked by a command).
        case openInUI(pid: Int32?, directory: String)
        /// Another command kept the profile longer than this one would wait.
        case busy(pid: Int32?, directory: String)
        case cannotOpen(String)

        public var description: String {
            switch self {
            case .heldBy(let pid, let directory):
                "Parla is already open on the profile in \(directory)\(Self.process(pid)); use that window, or quit it first"
            case .openInUI(let pid, let directory):
                "the Parla UI\(Self.process(pid)) has the profile in \(directory) open: use it there, or quit it first "
                    + "(two programs on one profile would log each other out of the relay)"
            case .busy(let pid, let directory):
                "another parla command\(Self.process(pid)) is still using the profile in \(directory); try again when it is done"
            case .cannotOpen(let why): "cannot lock the profile: \(why)"
            }
        }

        private static func process(_ pid: Int32?) -> String { pid.map { " (process \($0))" } ?? "" }
    }

    /// Takes the profile for `role`. While another command holds it, waits up to `wait`
    /// for it to finish; a UI holding it is never waited for by a command (it does not end soon).
    public init(directory: String, role: Role = .ui, waitingUpTo wait: Duration = .zero) throws(Failure) {
        let path = (directory as NSString).appendingPathComponent("lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen("\(path): \(String(cString: strerror(errno)))") }
        let deadline = ContinuousClock.now + wait
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.holder(fd)
            if holder.role == .command, ContinuousClock.now < deadline {
                usleep(20_000)
                continue
            }
            close(fd)
            switch (role, holder.role) {
            case (.ui, .ui): throw .heldBy(pid: holder.pid, directory: directory)
            case (.command, .ui): throw .openInUI(pid: holder.pid, directory: directory)
            case (_, .command): throw .busy(pid: holder.pid, directory: directory)
            }
        }
        // Written over the previous holder's line, then cut to length: a reader never sees it empty.
        let mark = Array("\(getpid()) \(role.rawValue)\n".utf8)
        _ = pwrite(fd, mark, mark.count, 0)
        _ = ftruncate(fd, off_t(mark.count))
        descriptor = fd
    }

    /// What the holder wrote: "PID ROLE" (a lock file from before roles holds only the PID: a UI).
    /// Nothing yet: a holder that has only just taken it, treated as a command (worth waiting for).
    private static func holder(_ fd: Int32) -> (pid: Int32?, role: Role) {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return (nil, .command) }
        let words = String(decoding: buffer.prefix(count), as: UTF8.self).split(whereSeparator: \.isWhitespace)
        return (words.first.flatMap { Int32($0) }, words.dropFirst().first.flatMap { Role(rawValue: String($0)) } ?? .ui)
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
