import Crypto
import Foundation

/// A medium-term X25519 key signed by the identity key, so a relay cannot swap in its own.
public struct SignedPreKey: Sendable, Equatable, Codable {
    public let id: UInt32
    public let keyPair: AgreementKeyPair
    public let signature: Data
    public let createdAt: Date

    public init(id: UInt32, identity: IdentityKeys, createdAt: Date = Date()) {
        self.id = id
        self.keyPair = AgreementKeyPair()
        self.signature = identity.sign(Self.signedBytes(id: id, publicKey: keyPair.publicKey))
        self.createdAt = createdAt
    }

    /// What the identity key signs: a label, the id and the public key.
    public static func signedBytes(id: UInt32, publicKey: Data) -> Data {
        Data("parla-signed-prekey-v1".utf8) + Bytes.uint32(id) + publicKey
    }
}

/// A single-use X25519 key; the relay hands each out once.
public struct OneTimePreKey: Sendable, Equatable, Codable {
    public let id: UInt32
    public let keyPair: AgreementKeyPair

    public init(id: UInt32) {
        self.id = id
        self.keyPair = AgreementKeyPair()
    }
}

/// The public keys someone needs to start a session with a user, as the relay serves them.
public struct PreKeyBundle: Sendable, Equatable, Codable {
    public var identitySigningKey: Data
    public var identityAgreementKey: Data
    public var signedPreKeyID: UInt32
    public var signedPreKey: Data
    public var signedPreKeySignature: Data
    public var oneTimePreKeyID: UInt32?
    public var oneTimePreKey: Data?

    public init(identitySigningKey: Data, identityAgreementKey: Data, signedPreKeyID: UInt32, signedPreKey: Data,
                signedPreKeySignature: Data, oneTimePreKeyID: UInt32? = nil, oneTimePreKey: Data? = nil) {
        self.identitySigningKey = identitySigningKey
        self.identityAgreementKey = identityAgreementKey
        self.signedPreKeyID = signedPreKeyID
        self.signedPreKey = signedPreKey
        self.signedPreKeySignature = signedPreKeySignature
        self.oneTimePreKeyID = oneTimePreKeyID
        self.oneTimePreKey = oneTimePreKey
    }

    /// Rejects a bundle whose signed prekey was not signed by the identity key it names.
    public func verify() throws(E2EError) {
        let bytes = SignedPreKey.signedBytes(id: signedPreKeyID, publicKey: signedPreKey)
        guard SignatureVerifier.isValid(signature: signedPreKeySignature, of: bytes, publicKey: identitySigningKey) else {
            throw .badSignedPreKeySignature
        }
        guard identityAgreementKey.count == 32, signedPreKey.count == 32, oneTimePreKey.map({ $0.count == 32 }) ?? true else {
            throw .invalidKey("bundle keys must be 32 bytes")
        }
    }
}
