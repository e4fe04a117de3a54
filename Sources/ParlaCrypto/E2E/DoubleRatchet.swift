import Crypto
import Foundation

/// The Double Ratchet (Signal's specification) with X25519, HKDF-SHA256, HMAC-SHA256 and
/// ChaCha20-Poly1305. A value type: `decrypt` changes the state only when the message
/// authenticates, so a forged or damaged message never disturbs the session, and the
/// caller can commit the new state together with the plaintext in one transaction.
public struct DoubleRatchet: Sendable, Equatable, Codable {
    /// How far ahead of the receiving chain a message may be (skipped keys derived at once).
    public static let maxSkip = 1000
    /// Skipped message keys kept in all; the oldest are forgotten first.
    public static let maxStoredSkipped = 2000
    /// Earlier remote ratchet keys remembered to recognise replays from finished chains.
    static let rememberedRemoteKeys = 8

    struct SkippedKey: Sendable, Equatable, Codable {
        var ratchetKey: Data
        var counter: UInt32
        var messageKey: Data
    }

    private(set) var sendingRatchet: AgreementKeyPair
    private(set) var remoteRatchetKey: Data?
    private var rootKey: Data
    private var sendingChain: Data?
    private var receivingChain: Data?
    private(set) var sendCount: UInt32 = 0
    private(set) var receiveCount: UInt32 = 0
    private var previousSendCount: UInt32 = 0
    private(set) var skipped: [SkippedKey] = []
    private var finishedRemoteKeys: [Data] = []
    public let associatedData: Data

    /// The session's first sender (Alice): ratchets at once against Bob's signed prekey.
    public static func initiator(sharedKey: Data, remoteRatchetKey: Data, associatedData: Data,
                                 ratchetKey: AgreementKeyPair = AgreementKeyPair()) throws(E2EError) -> DoubleRatchet {
        var state = DoubleRatchet(sendingRatchet: ratchetKey, rootKey: sharedKey, associatedData: associatedData)
        state.remoteRatchetKey = remoteRatchetKey
        (state.rootKey, state.sendingChain) = Self.rootStep(sharedKey, try ratchetKey.agree(with: remoteRatchetKey))
        return state
    }

    /// The responder (Bob): his signed prekey is the first ratchet key.
    public static func responder(sharedKey: Data, signedPreKey: AgreementKeyPair, associatedData: Data) -> DoubleRatchet {
        DoubleRatchet(sendingRatchet: signedPreKey, rootKey: sharedKey, associatedData: associatedData)
    }

    private init(sendingRatchet: AgreementKeyPair, rootKey: Data, associatedData: Data) {
        self.sendingRatchet = sendingRatchet
        self.rootKey = rootKey
        self.associatedData = associatedData
    }

    public var canSend: Bool { sendingChain != nil }

    public mutating func encrypt(_ plaintext: Data) throws(E2EError) -> (header: RatchetHeader, ciphertext: Data) {
        guard let chain = sendingChain else { throw .noSession }
        let (nextChain, messageKey) = Self.chainStep(chain)
        let header = RatchetHeader(ratchetKey: sendingRatchet.publicKey, previousChainLength: previousSendCount, counter: sendCount)
        let ciphertext = try Self.seal(plaintext, messageKey: messageKey, associatedData: associatedData + header.encoded)
        sendingChain = nextChain
        sendCount += 1
        return (header, ciphertext)
    }

    public mutating func decrypt(header: RatchetHeader, ciphertext: Data) throws(E2EError) -> Data {
        var next = self
        let plaintext = try next.advanceAndOpen(header: header, ciphertext: ciphertext)
        self = next
        return plaintext
    }

    private mutating func advanceAndOpen(header: RatchetHeader, ciphertext: Data) throws(E2EError) -> Data {
        let ad = associatedData + header.encoded
        if let index = skipped.firstIndex(where: { $0.ratchetKey == header.ratchetKey && $0.counter == header.counter }) {
            let plaintext = try Self.open(ciphertext, messageKey: skipped[index].messageKey, associatedData: ad)
            skipped.remove(at: index)
            return plaintext
        }
        if finishedRemoteKeys.contains(header.ratchetKey) || (header.ratchetKey == remoteRatchetKey && header.counter < receiveCount && receivingChain != nil) {
            throw .replayed(counter: header.counter)
        }
        if header.ratchetKey != remoteRatchetKey || receivingChain == nil {
            try skip(until: header.previousChainLength)
            try ratchet(to: header.ratchetKey)
        }
        try skip(until: header.counter)
        let (nextChain, messageKey) = Self.chainStep(receivingChain!)
        let plaintext = try Self.open(ciphertext, messageKey: messageKey, associatedData: ad)
        receivingChain = nextChain
        receiveCount += 1
        return plaintext
    }

    private mutating func skip(until counter: UInt32) throws(E2EError) {
        guard let chain = receivingChain, let remote = remoteRatchetKey else { return }
        guard counter >= receiveCount else { return }
        let gap = Int(counter - receiveCount)
        guard gap <= Self.maxSkip else { throw .tooManySkipped(requested: gap, limit: Self.maxSkip) }
        var current = chain
        while receiveCount < counter {
            let (nextChain, messageKey) = Self.chainStep(current)
            skipped.append(SkippedKey(ratchetKey: remote, counter: receiveCount, messageKey: messageKey))
            current = nextChain
            receiveCount += 1
        }
        receivingChain = current
        if skipped.count > Self.maxStoredSkipped { skipped.removeFirst(skipped.count - Self.maxStoredSkipped) }
    }

    private mutating func ratchet(to remoteKey: Data) throws(E2EError) {
        if let old = remoteRatchetKey, receivingChain != nil {
            finishedRemoteKeys.append(old)
            if finishedRemoteKeys.count > Self.rememberedRemoteKeys { finishedRemoteKeys.removeFirst() }
        }
        previousSendCount = sendCount
        sendCount = 0
        receiveCount = 0
        remoteRatchetKey = remoteKey
        (rootKey, receivingChain) = Self.rootStep(rootKey, try sendingRatchet.agree(with: remoteKey))
        sendingRatchet = AgreementKeyPair()
        (rootKey, sendingChain) = Self.rootStep(rootKey, try sendingRatchet.agree(with: remoteKey))
    }

    // MARK: KDFs and AEAD (fixed by known-answer tests)

    static let rootInfo = Data("parla-ratchet-v1".utf8)
    static let messageInfo = Data("parla-message-keys-v1".utf8)
    static let zeroSalt = Data(repeating: 0, count: 32)

    /// KDF_RK: HKDF-SHA256(salt = root key, input = DH output, info) → new root key, chain key.
    static func rootStep(_ rootKey: Data, _ dhOutput: Data) -> (rootKey: Data, chainKey: Data) {
        let output = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: dhOutput), salt: rootKey, info: rootInfo, outputByteCount: 64)
        let bytes = output.withUnsafeBytes { Data($0) }
        return (bytes.prefix(32), bytes.suffix(32))
    }

    /// KDF_CK: next chain key = HMAC(ck, 0x02), message key = HMAC(ck, 0x01).
    static func chainStep(_ chainKey: Data) -> (chainKey: Data, messageKey: Data) {
        MessageKeyDerivation.hmacPair(key: chainKey, 0x02, 0x01)
    }

    /// Message key → ChaCha20-Poly1305 key (32) and nonce (12) by HKDF; output is ciphertext || tag.
    static func seal(_ plaintext: Data, messageKey: Data, associatedData: Data) throws(E2EError) -> Data {
        let (key, nonce) = aeadKeys(messageKey)
        guard let box = try? ChaChaPoly.seal(plaintext, using: key, nonce: nonce, authenticating: associatedData) else {
            throw .authenticationFailed
        }
        return box.ciphertext + box.tag
    }

    static func open(_ sealed: Data, messageKey: Data, associatedData: Data) throws(E2EError) -> Data {
        guard sealed.count >= 16 else { throw .malformedEnvelope("ciphertext shorter than its tag") }
        let (key, nonce) = aeadKeys(messageKey)
        guard let box = try? ChaChaPoly.SealedBox(nonce: nonce, ciphertext: sealed.dropLast(16), tag: sealed.suffix(16)),
              let plaintext = try? ChaChaPoly.open(box, using: key, authenticating: associatedData) else {
            throw .authenticationFailed
        }
        return plaintext
    }

    static func aeadKeys(_ messageKey: Data) -> (SymmetricKey, ChaChaPoly.Nonce) {
        let bytes = MessageKeyDerivation.hkdf(inputKeyMaterial: messageKey, salt: zeroSalt, info: messageInfo, outputByteCount: 44)
        return (SymmetricKey(data: bytes[..<32]), try! ChaChaPoly.Nonce(data: bytes[32...]))
    }
}
