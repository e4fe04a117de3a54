import Foundation

/// Groups: membership checked against signed changes, and one copy per member.
public protocol GroupStore: Sendable {
    /// Applies a membership change checked against the group's current state; the event
    /// is stored for everyone concerned in the same commit.
    func applyGroupChange(_ change: GroupChange, now: Int64, expiresAt: Int64, maxMembers: Int, quota: MailboxQuota) async throws -> GroupChangeOutcome
    /// The group as `user` may see it (nil: no such group, or not a member).
    func groupInfo(_ group: String, for user: String) async throws -> GroupRecord?
    /// Stores one copy per member in one commit, if the copies match the membership exactly.
    func acceptGroupSend(id: String, from sender: String, group: String, copies: [(to: String, body: Data)], now: Int64, expiresAt: Int64,
                         quota: MailboxQuota) async throws -> GroupSendOutcome
}
