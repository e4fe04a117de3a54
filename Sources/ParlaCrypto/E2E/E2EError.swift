/// Why an end-to-end step failed, specific enough to show the user.
public enum E2EError: Error, Sendable, Equatable, CustomStringConvertible {
    case badSignedPreKeySignature
    case invalidKey(String)
    case malformedEnvelope(String)
    case unsupportedVersion(UInt8)
    /// The AEAD tag did not verify: the ciphertext or its header was altered, or the keys differ.
    case authenticationFailed
    /// The message key was already used: a replay or a duplicate.
    case replayed(counter: UInt32)
    /// Too many messages would have to be skipped to reach this one.
    case tooManySkipped(requested: Int, limit: Int)
    case noSession
    case oneTimePreKeyUnknown(UInt32)
    case signedPreKeyUnknown(UInt32)

    /// The sender's session is one we lost or one that broke: a message over a new session would decrypt.
    /// (A replay, a malformed envelope or a newer version would not.)
    public var isCuredByANewSession: Bool {
        switch self {
        case .noSession, .authenticationFailed, .tooManySkipped, .oneTimePreKeyUnknown, .signedPreKeyUnknown: true
        case .badSignedPreKeySignature, .invalidKey, .malformedEnvelope, .unsupportedVersion, .replayed: false
        }
    }

    public var description: String {
        switch self {
        case .badSignedPreKeySignature: "the contact's signed prekey has a bad signature (the key directory may be lying)"
        case .invalidKey(let why): "invalid key: \(why)"
        case .malformedEnvelope(let why): "malformed encrypted message: \(why)"
        case .unsupportedVersion(let version): "encrypted message version \(version) is not supported; update Parla"
        case .authenticationFailed: "the message failed authentication (altered in transit, or sent with other keys)"
        case .replayed(let counter): "message \(counter) was already decrypted (replayed or duplicated)"
        case .tooManySkipped(let requested, let limit): "the message is \(requested) ahead in its chain; at most \(limit) are kept"
        case .noSession: "no encrypted session with this contact yet"
        case .oneTimePreKeyUnknown(let id): "one-time prekey \(id) is unknown or was already used"
        case .signedPreKeyUnknown(let id): "signed prekey \(id) is unknown (rotated away too long ago)"
        }
    }
}
