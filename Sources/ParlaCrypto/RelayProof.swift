import Crypto
import Foundation

/// The relay's long-term Ed25519 key. Clients pin its public half at `init`; the relay signs
/// every challenge and every welcome with it, so a server that merely copies the relay's
/// identity string (an impostor behind a hijacked name or a plain ws:// path) cannot pass as
/// it, and a recorded login cannot be played back to a client as a fresh one.
public struct RelayIdentityKey: Sendable {
    public let privateRaw: Data
    /// Parsed once: making the key from its raw bytes derives the public half (a scalar
    /// multiplication), which per login cost as much as the signatures themselves.
    /// Immutable after `init` and only read (signing does not change it), so sharing it is safe.
    nonisolated(unsafe) private let key: Curve25519.Signing.PrivateKey
    public let publicKey: Data

    public init() {
        self.init(key: Curve25519.Signing.PrivateKey())
    }

    public init(privateRaw: Data) throws(CryptoFailure) {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: privateRaw) else {
            throw CryptoFailure.invalidKey("the relay's stored signing key is damaged")
        }
        self.init(key: key)
    }

    private init(key: Curve25519.Signing.PrivateKey) {
        self.key = key
        self.privateRaw = key.rawRepresentation
        self.publicKey = key.publicKey.rawRepresentation
    }

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
