import ParlaCrypto

/// Who this relay is to its clients: the name bound into every signed login, and the key
/// that proves each challenge and welcome came from this relay's data and no copy of its name.
public struct RelayIdentity: Sendable {
    public let id: String
    public let key: RelayIdentityKey

    public init(id: String, key: RelayIdentityKey) {
        self.id = id
        self.key = key
    }
}
