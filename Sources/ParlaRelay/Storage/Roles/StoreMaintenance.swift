import Foundation

/// What operators look at and the housekeeping that keeps deleted bytes from lingering.
public protocol StoreMaintenance: Sendable {
    func stats() async throws -> RelayStats
    /// Moves committed pages into the main file and empties the write-ahead log, so
    /// deleted bytes do not linger there.
    func purgeDeletedData() async throws
    /// Write transactions committed so far (a counter; only changes matter).
    var commits: Int { get }
    /// True while the store has given up its disk reserve: it records deliveries, and refuses
    /// new messages, until the disk has room again.
    var isLowOnSpace: Bool { get }
}
