import Crypto
import Foundation

/// The relay's long-term Ed25519 key. Clients pin its public half at `init`; the relay signs
/// every challenge and every welcome with it, so a server that merely copies the relay's
/// identity string (an impostor behind a hijacked name or a plain ws:// path) cannot pass as
/// it, and a recorded login cannot be played back to a client as a fresh one.
public struct RelayIdentityKey: Sendable {
    public let privateRaw: Data

    public init() {
        privateRaw = Curve25519.Signing.PrivateKey().rawRepresentation
    }

    public init(privateRaw: Data) throws(CryptoFailure) {
        guard (try? Curve25519.Signing.PrivateKey(rawRepresentation: privateRaw)) != nil else {
            throw CryptoFailure.invalidKey("the relay's stored signing key is damaged")
        }
        self.privateRaw = privateRaw
    }

    private var key: Curve25519.Signing.PrivateKey {
        // Validated in `init`.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: privateRaw)
    }

    public var publicKey: Data { key.publicKey.rawRepresentation }

    public func sign(_ proof: RelayProof) -> Data {
        (try? key.signature(for: proof.bytes)) ?? Data()
    }
}

/// What the relay signs; see docs/PROTOCOL.md, "Relay identity".
public enum RelayProof: Sendable, Equatable {
    /// The challenge as sent: the relay's identity, the connection's nonce, the relay clock.
    case challenge(relay: String, nonce: Data, time: Int64)
    /// A login's success, bound to the name and to the timestamp the client just signed, which
    /// only that client chose: a welcome recorded from an earlier login never verifies again.
    case welcome(relay: String, nonce: Data, name: String, clientTime: Int64)

    public var bytes: Data {
        let lines: [String] = switch self {
        case .challenge(let relay, let nonce, let time):
            ["parla-relay-challenge-v1", relay, nonce.base64EncodedString(), String(time)]
        case .welcome(let relay, let nonce, let name, let clientTime):
            ["parla-relay-welcome-v1", relay, nonce.base64EncodedString(), name, String(clientTime)]
        }
        return Data(lines.joined(separator: "\n").utf8)
    }

    public func isSigned(by publicKey: Data, signature: Data?) -> Bool {
        guard let signature else { return false }
        return SignatureVerifier.isValid(signature: signature, of: bytes, publicKey: publicKey)
    }
}
