import Foundation

/// An encrypted message body as it travels through the relay (the relay sees only these bytes).
///
///     version (1) = 1 | kind (1): 1 prekey, 2 regular
///     prekey only: initiator signing key (32) | initiator agreement key (32) |
///                  ephemeral key (32) | signed prekey id (4) | has one-time (1) | one-time id (4)
///     ratchet header (40) | ChaCha20-Poly1305 ciphertext || tag (16)
public struct Envelope: Sendable, Equatable {
    public static let version: UInt8 = 1
    /// The most an envelope adds to its padded plaintext: version and kind, a prekey part,
    /// the ratchet header and the AEAD tag.
    public static let maxOverhead = 2 + PreKeyPart.size + RatchetHeader.size + 16

    /// What the responder needs to finish X3DH; sent until the initiator hears back.
    public struct PreKeyPart: Sendable, Equatable, Codable {
        public var initiatorSigningKey: Data
        public var initiatorAgreementKey: Data
        public var ephemeralKey: Data
        public var signedPreKeyID: UInt32
        public var oneTimePreKeyID: UInt32?

        public init(initiatorSigningKey: Data, initiatorAgreementKey: Data, ephemeralKey: Data, signedPreKeyID: UInt32, oneTimePreKeyID: UInt32?) {
            self.initiatorSigningKey = initiatorSigningKey
            self.initiatorAgreementKey = initiatorAgreementKey
            self.ephemeralKey = ephemeralKey
            self.signedPreKeyID = signedPreKeyID
            self.oneTimePreKeyID = oneTimePreKeyID
        }

        static let size = 32 * 3 + 4 + 1 + 4
    }

    public var preKey: PreKeyPart?
    public var header: RatchetHeader
    public var ciphertext: Data

    public init(preKey: PreKeyPart?, header: RatchetHeader, ciphertext: Data) {
        self.preKey = preKey
        self.header = header
        self.ciphertext = ciphertext
    }

    public var encoded: Data {
        var data = Data([Self.version, preKey == nil ? 2 : 1])
        if let preKey {
            data += preKey.initiatorSigningKey + preKey.initiatorAgreementKey + preKey.ephemeralKey
            data += Bytes.uint32(preKey.signedPreKeyID)
            data += Data([preKey.oneTimePreKeyID == nil ? 0 : 1]) + Bytes.uint32(preKey.oneTimePreKeyID ?? 0)
        }
        return data + header.encoded + ciphertext
    }

    public init(decoding data: Data) throws(E2EError) {
        let bytes = Data(data)
        guard bytes.count >= 2 else { throw .malformedEnvelope("too short") }
        guard bytes[0] == Self.version else { throw .unsupportedVersion(bytes[0]) }
        var offset = 2
        switch bytes[1] {
        case 1:
            guard bytes.count >= offset + PreKeyPart.size else { throw .malformedEnvelope("prekey part cut short") }
            let key = { (start: Int) in Data(bytes[start..<start + 32]) }
            let hasOneTime = bytes[offset + 100]
            guard hasOneTime <= 1 else { throw .malformedEnvelope("bad one-time prekey flag") }
            preKey = PreKeyPart(initiatorSigningKey: key(offset), initiatorAgreementKey: key(offset + 32), ephemeralKey: key(offset + 64),
                                signedPreKeyID: Bytes.readUInt32(bytes, at: offset + 96),
                                oneTimePreKeyID: hasOneTime == 1 ? Bytes.readUInt32(bytes, at: offset + 101) : nil)
            offset += PreKeyPart.size
        case 2:
            preKey = nil
        case let kind:
            throw .malformedEnvelope("unknown kind \(kind)")
        }
        guard bytes.count >= offset + RatchetHeader.size + 16 else { throw .malformedEnvelope("header or ciphertext cut short") }
        header = try RatchetHeader(decoding: Data(bytes[offset..<offset + RatchetHeader.size]))
        ciphertext = Data(bytes[(offset + RatchetHeader.size)...])
    }
}
