import Crypto
import Foundation

/// A user's long-term keys. They are created on the client and the private halves never leave it.
/// Held as raw bytes (swift-crypto's key types are not `Sendable`) and validated on creation.
public struct IdentityKeys: Sendable, Equatable {
    public let signingPrivate: Data
    public let agreementPrivate: Data

    public init() {
        self.signingPrivate = Curve25519.Signing.PrivateKey().rawRepresentation
        self.agreementPrivate = Curve25519.KeyAgreement.PrivateKey().rawRepresentation
    }

    /// Restores keys saved with `privateRepresentation`.
    public init(signingPrivate: Data, agreementPrivate: Data) throws(CryptoFailure) {
        do {
            _ = try Curve25519.Signing.PrivateKey(rawRepresentation: signingPrivate)
            _ = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: agreementPrivate)
            self.signingPrivate = signingPrivate
            self.agreementPrivate = agreementPrivate
        } catch {
            throw CryptoFailure.invalidKey("stored private key is damaged (\(error))")
        }
    }

    var signing: Curve25519.Signing.PrivateKey {
        // Validated in `init`, so this cannot fail.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: signingPrivate)
    }

    var agreement: Curve25519.KeyAgreement.PrivateKey {
        try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: agreementPrivate)
    }

    public var signingPublic: Data { signing.publicKey.rawRepresentation }
    public var agreementPublic: Data { agreement.publicKey.rawRepresentation }

    public func sign(_ data: Data) -> Data {
        // Ed25519 signing only fails on a broken key object, which `init` already excludes.
        (try? signing.signature(for: data)) ?? Data()
    }
}

public enum CryptoFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidKey(String)

    public var description: String {
        switch self {
        case .invalidKey(let why): "invalid key: \(why)"
        }
    }
}

/// Checks an Ed25519 signature made by a raw 32-byte public key.
public enum SignatureVerifier {
    public static func isValid(signature: Data, of data: Data, publicKey: Data) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: data)
    }

    /// A raw public key is usable if swift-crypto accepts it for its curve.
    public static func isValidSigningKey(_ raw: Data) -> Bool {
        (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil
    }

    public static func isValidAgreementKey(_ raw: Data) -> Bool {
        raw.count == 32 && (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw)) != nil
    }
}
