import Foundation

/// The exact bytes a client signs to register or log in. Binding the relay's identity,
/// the one-time nonce and a timestamp means a captured signature is useless on another
/// relay, on another connection, or later.
public struct AuthStatement: Sendable, Equatable {
    public enum Action: String, Sendable {
        case login, register
    }

    public var action: Action
    public var relay: String
    public var nonce: Data
    public var name: String
    public var timestamp: Int64
    /// Registration only: the keys being registered and the invite code ("" when none).
    public var signingKey: Data?
    public var agreementKey: Data?
    public var invite: String?

    public init(action: Action, relay: String, nonce: Data, name: String, timestamp: Int64,
                signingKey: Data? = nil, agreementKey: Data? = nil, invite: String? = nil) {
        self.action = action
        self.relay = relay
        self.nonce = nonce
        self.name = name
        self.timestamp = timestamp
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.invite = invite
    }

    /// Lines joined by "\n", no trailing newline; see docs/PROTOCOL.md, "Signed statements".
    public var bytes: Data {
        var lines = ["parla-auth-v1", action.rawValue, relay, nonce.base64EncodedString(), name, String(timestamp)]
        if action == .register {
            lines.append(signingKey?.base64EncodedString() ?? "")
            lines.append(agreementKey?.base64EncodedString() ?? "")
            lines.append(invite ?? "")
        }
        return Data(lines.joined(separator: "\n").utf8)
    }

    public func signed(with keys: IdentityKeys) -> Data {
        keys.sign(bytes)
    }

    public func isSigned(by publicKey: Data, signature: Data) -> Bool {
        SignatureVerifier.isValid(signature: signature, of: bytes, publicKey: publicKey)
    }
}
