import Foundation
import ParlaCrypto
import ParlaProtocol

/// Decides whether the relay on the other end is the one this profile registered with: the
/// identity string must match, and the challenge and the welcome must be signed by the pinned
/// key. A relay's identity string is public (every challenge carries it), so only the key
/// tells the real relay from a server that copies it.
enum RelayIdentityCheck {
    /// Returns the key the welcome must be signed by (nil only for a relay from before keys,
    /// to a profile that never saw one).
    static func challenge(_ challenge: RelayFrame.Challenge, pinnedIdentity: String, pinnedKey: Data?) throws(EngineError) -> Data? {
        if !pinnedIdentity.isEmpty, challenge.relay != pinnedIdentity {
            throw .relayIdentityChanged(expected: pinnedIdentity, got: challenge.relay)
        }
        guard let key = challenge.key else {
            if pinnedKey != nil { throw .relayUnproven("its challenge carries no signature") }
            return nil
        }
        if let pinnedKey, key != pinnedKey {
            throw .relayUnproven("it presented signing key \(fingerprint(key)), not the pinned \(fingerprint(pinnedKey))")
        }
        let proof = RelayProof.challenge(relay: challenge.relay, nonce: challenge.nonce, time: challenge.time)
        guard proof.isSigned(by: key, signature: challenge.signature) else {
            throw .relayUnproven("its challenge is not signed by the key it presented")
        }
        return key
    }

    static func welcome(_ welcome: RelayFrame.Welcome, challenge: RelayFrame.Challenge, name: String, clientTime: Int64, key: Data?) throws(EngineError) {
        guard let key else { return }
        let proof = RelayProof.welcome(relay: challenge.relay, nonce: challenge.nonce, name: name, clientTime: clientTime)
        guard welcome.name == name, proof.isSigned(by: key, signature: welcome.signature) else {
            throw .relayUnproven("its welcome is not signed for this login (a replayed or forged answer)")
        }
    }

    static func fingerprint(_ key: Data) -> String {
        key.prefix(6).map { String(format: "%02x", $0) }.joined()
    }
}
