import Foundation

/// Accounts, invitations and when each user was last seen.
public protocol AccountStore: Sendable {
    func register(_ user: UserRecord, invite: String?, registrationOpen: Bool, now: Int64) async throws -> RegisterOutcome
    func user(named name: String) async throws -> UserRecord?
    /// What a login is checked against; a store may answer it from memory (keys never change).
    func signingKey(of name: String) async throws -> Data?
    func createInvite(now: Int64) async throws -> String
    func setLastSeen(_ user: String, at: Int64) async throws
}

extension AccountStore {
    public func signingKey(of name: String) async throws -> Data? {
        try await user(named: name)?.signingKey
    }
}
