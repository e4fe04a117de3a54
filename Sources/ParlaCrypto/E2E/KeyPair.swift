import Crypto
import Foundation

/// An X25519 key pair as raw bytes (swift-crypto's key types are not `Sendable` or `Codable`).
public struct AgreementKeyPair: Sendable, Equatable, Codable {
    public let privateKey: Data
    public let publicKey: Data

    public init() {
        let key = Curve25519.KeyAgreement.PrivateKey()
        privateKey = key.rawRepresentation
        publicKey = key.publicKey.rawRepresentation
    }

    public init(privateKey: Data) throws(E2EError) {
        guard let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey) else {
            throw .invalidKey("X25519 private key must be 32 bytes")
        }
        self.privateKey = privateKey
        self.publicKey = key.publicKey.rawRepresentation
    }

    /// X25519(private, other public): 32 shared bytes.
    public func agree(with publicKey: Data) throws(E2EError) -> Data {
        guard let mine = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey),
              let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicKey),
              let secret = try? mine.sharedSecretFromKeyAgreement(with: theirs) else {
            throw .invalidKey("X25519 public key must be 32 bytes")
        }
        let shared = secret.withUnsafeBytes { Data($0) }
        // A low-order public key gives all zeros whatever our key is: the "secret" would be
        // known to anyone (RFC 7748 §6.1 says to check). Refused, whichever backend computed it.
        guard shared.contains(where: { $0 != 0 }) else { throw .invalidKey("X25519 with this public key gives no secret (a low-order point)") }
        return shared
    }
}

extension IdentityKeys {
    var agreementPair: AgreementKeyPair {
        // `IdentityKeys` validated its private key, so this cannot fail.
        try! AgreementKeyPair(privateKey: agreementPrivate)
    }
}
