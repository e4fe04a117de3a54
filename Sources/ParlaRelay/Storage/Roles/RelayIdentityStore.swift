import Foundation

/// The relay's own identity, created with its data: several nodes of one relay share it.
public protocol RelayIdentityStore: Sendable {
    /// Stable identity of this relay's data (name and signing key), created with the store.
    func relayIdentity() async throws -> RelayIdentity
}
