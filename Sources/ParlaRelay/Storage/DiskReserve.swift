import Foundation
import Synchronization

/// Space the relay sets aside on its disk. Confirming a delivery deletes rows, and in SQLite
/// even a delete writes (the write-ahead log, which the relay truncates after deletions):
/// on a full disk nothing could be confirmed, so nothing freed, ever. When a commit fails for
/// want of space, the reserve is given up; from then on only work that frees space or keeps
/// clients connected (confirmations, expiry, last-seen) is written, and new messages are
/// refused as "the relay's disk is full", until the disk has room for the reserve again.
final class DiskReserve: Sendable {
    let path: String
    let bytes: Int
    private let held: Atomic<Bool>

    /// `bytes` of 0 sets nothing aside (and never refuses for want of a reserve).
    init(directory: String, bytes: Int) {
        self.path = (directory as NSString).appendingPathComponent("space-reserve")
        self.bytes = bytes
        self.held = Atomic(FileManager.default.fileExists(atPath: path))
    }

    var isHeld: Bool { bytes == 0 || held.load(ordering: .relaxed) }

    /// Free bytes on the reserve's file system, for an unprivileged writer.
    var freeBytes: Int64? {
        var stats = statvfs()
        guard statvfs((path as NSString).deletingLastPathComponent, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// Sets the reserve aside when the disk has room for it and as much again to work in;
    /// true when it is held.
    @discardableResult
    func replenish() -> Bool {
        if isHeld { return true }
        guard let free = freeBytes, free >= Int64(bytes) * 2 else { return false }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { return false }
        // Allocated, not sparse: the blocks are really taken, so deleting the file gives them back.
        let allocated = posix_fallocate(descriptor, 0, off_t(bytes)) == 0 && fsync(descriptor) == 0
        close(descriptor)
        guard allocated else {
            unlink(path)
            return false
        }
        held.store(true, ordering: .relaxed)
        return true
    }

    /// Gives the reserve back to the disk; true when there was one to give.
    @discardableResult
    func release() -> Bool {
        guard bytes > 0, held.exchange(false, ordering: .relaxed) else { return false }
        unlink(path)
        return true
    }
}
