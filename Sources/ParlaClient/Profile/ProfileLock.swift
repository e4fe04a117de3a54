import Foundation

/// Marks a profile as open in a long-running program (the UI). Two UIs on one
/// profile would keep logging each other out of the relay; the second one is
/// told which process holds the profile instead. The lock is an `flock` on
/// `<profile>/lock`, so it disappears with the process, even after `kill -9`.
public final class ProfileLock: Sendable {
    private let descriptor: Int32

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case heldBy(pid: Int32?, directory: String)
        case cannotOpen(String)

        public var description: String {
            switch self {
            case .heldBy(let pid, let directory):
                "Parla is already open on the profile in \(directory)\(pid.map { " (process \($0))" } ?? ""); "
                    + "use that window, or quit it first"
            case .cannotOpen(let why): "cannot lock the profile: \(why)"
            }
        }
    }

    public init(directory: String) throws(Failure) {
        let path = (directory as NSString).appendingPathComponent("lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen("\(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let pid = count > 0 ? Int32(String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            throw .heldBy(pid: pid, directory: directory)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
