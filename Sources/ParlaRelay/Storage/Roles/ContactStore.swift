import Foundation

/// Who talks to whom (presence goes only to mutual contacts).
public protocol ContactStore: Sendable {
    /// Users who have written to `user` and been written to by them (mutual contacts).
    func peers(of user: String) async throws -> [String]
    /// The same, each with when it was last seen: one read at login instead of one per offline peer.
    func peersLastSeen(of user: String) async throws -> [(name: String, lastSeen: Int64?)]
    /// `sender` has written to `recipient` at least once.
    func hasWritten(_ sender: String, to recipient: String) async throws -> Bool
    /// Both have written to each other.
    func sharesConversation(_ a: String, _ b: String) async throws -> Bool
}
