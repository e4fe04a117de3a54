import Crypto
import Foundation
@testable import ParlaCrypto
import Testing

extension Data {
    init(hex: String) {
        self.init(stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! })
    }

    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

/// Expected bytes computed independently with Python's `cryptography` package from the
/// construction in docs/SECURITY.md, so the Swift code cannot drift from the document.
@Suite struct KnownAnswerTests {
    /// Low-order X25519 points (RFC 7748 §6.1) make the shared secret all zeros whatever our
    /// key: a bundle or prekey message carrying one must be refused, not used.
    @Test func lowOrderPublicKeysAreRefused() throws {
        let mine = AgreementKeyPair()
        let lowOrder = [Data(count: 32), Data([1] + [UInt8](repeating: 0, count: 31)),
                        Data(hex: "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")]
        for point in lowOrder {
            #expect(throws: E2EError.self, "\(point.hex)") { try mine.agree(with: point) }
        }
        #expect(try mine.agree(with: AgreementKeyPair().publicKey).count == 32)
    }

    @Test func rootKDF() {
        let (root, chain) = DoubleRatchet.rootStep(Data(0..<32), Data(32..<64))
        #expect(root.hex == "4eb2614e7d01f04d52e9bac24ea2e98c80b9330b7d6f2435ad517d6ea292ac3d")
        #expect(chain.hex == "786cc37bba48800809405fd66a6627182eae3434e80a9eba38472de312d445cc")
    }

    @Test func chainKDF() {
        let (chain, message) = DoubleRatchet.chainStep(Data(repeating: 7, count: 32))
        #expect(chain.hex == "469e03123f1c9c6d5c3ffaa260c7fef9f863c0b6af93f7dcae5c13cbfdadfca5")
        #expect(message.hex == "3d8b2fa2a2537fdcdda46e704966a105722d268d2e9ed43bbe5b1dd9d6802935")
    }

    @Test func messageAEAD() throws {
        let sealed = try DoubleRatchet.seal(Data("hello parla".utf8), messageKey: Data(repeating: 9, count: 32), associatedData: Data("associated".utf8))
        #expect(sealed.hex == "98fa1ad329960ec2d600b5ba431e6bbcd9e0e0cad79415c5dc99f8")
        #expect(try DoubleRatchet.open(sealed, messageKey: Data(repeating: 9, count: 32), associatedData: Data("associated".utf8)) == Data("hello parla".utf8))
    }

    /// RFC 5869's SHA-256 cases 1 and 3, and the same output as swift-crypto's HKDF for every
    /// length a caller could ask (one block, a block boundary, several blocks).
    @Test func messageKeyDerivationIsHKDF() throws {
        let ikm = Data(repeating: 0x0b, count: 22)
        #expect(Data(MessageKeyDerivation.hkdf(inputKeyMaterial: ikm, salt: Data(0x00...0x0c), info: Data(0xf0...0xf9), outputByteCount: 42)).hex
            == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        #expect(Data(MessageKeyDerivation.hkdf(inputKeyMaterial: ikm, salt: Data(), info: Data(), outputByteCount: 42)).hex
            == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
        for count in [1, 31, 32, 33, 44, 64, 65, 200] {
            let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
            let salt = Data((0..<count % 40).map { _ in UInt8.random(in: 0...255) })
            let expected = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: key), salt: salt, info: DoubleRatchet.messageInfo, outputByteCount: count)
            #expect(Data(MessageKeyDerivation.hkdf(inputKeyMaterial: key, salt: salt, info: DoubleRatchet.messageInfo, outputByteCount: count))
                == expected.withUnsafeBytes { Data($0) })
        }
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        let (first, second) = MessageKeyDerivation.hmacPair(key: key, 0x02, 0x01)
        #expect(first == Data(HMAC<SHA256>.authenticationCode(for: Data([0x02]), using: SymmetricKey(data: key))))
        #expect(second == Data(HMAC<SHA256>.authenticationCode(for: Data([0x01]), using: SymmetricKey(data: key))))
    }

    @Test func x3dhKDF() {
        #expect(X3DH.derive(Data(0..<96)).hex == "6849b1de63584b9ca3dfd0224978805ec07db4926429fcbdaed50fed0a6b2178")
    }

    @Test func safetyNumberFingerprint() {
        #expect(SafetyNumber.fingerprint(name: "alice", signingKey: Data(repeating: 1, count: 32), agreementKey: Data(repeating: 2, count: 32))
            == "673725225975756951624951916358")
    }
}

/// Two parties with a real X3DH handshake and ratchets.
struct Pair {
    let alice = IdentityKeys()
    let bob = IdentityKeys()
    let signed: SignedPreKey
    let oneTime = OneTimePreKey(id: 7)
    var aliceRatchet: DoubleRatchet
    var bobRatchet: DoubleRatchet
    let firstEnvelope: Envelope

    init() throws {
        signed = SignedPreKey(id: 1, identity: bob)
        let bundle = PreKeyBundle(identitySigningKey: bob.signingPublic, identityAgreementKey: bob.agreementPublic, signedPreKeyID: 1,
                                  signedPreKey: signed.keyPair.publicKey, signedPreKeySignature: signed.signature,
                                  oneTimePreKeyID: 7, oneTimePreKey: oneTime.keyPair.publicKey)
        let started = try X3DH.initiate(identity: alice, bundle: bundle)
        aliceRatchet = try DoubleRatchet.initiator(sharedKey: started.sharedKey, remoteRatchetKey: bundle.signedPreKey, associatedData: started.associatedData)
        let (header, ciphertext) = try aliceRatchet.encrypt(Padding.pad(Data("first".utf8)))
        firstEnvelope = Envelope(preKey: .init(initiatorSigningKey: alice.signingPublic, initiatorAgreementKey: alice.agreementPublic,
                                               ephemeralKey: started.ephemeralPublicKey, signedPreKeyID: 1, oneTimePreKeyID: 7),
                                 header: header, ciphertext: ciphertext)
        // Bob, from the envelope's bytes alone.
        let received = try Envelope(decoding: firstEnvelope.encoded)
        let part = try #require(received.preKey)
        let (shared, ad) = try X3DH.respond(identity: bob, signedPreKey: signed.keyPair, oneTimePreKey: oneTime.keyPair,
                                            initiatorSigningKey: part.initiatorSigningKey, initiatorAgreementKey: part.initiatorAgreementKey,
                                            ephemeralKey: part.ephemeralKey)
        bobRatchet = DoubleRatchet.responder(sharedKey: shared, signedPreKey: signed.keyPair, associatedData: ad)
    }
}

@Suite struct DoubleRatchetTests {
    @Test func x3dhThenBothWays() throws {
        var pair = try Pair()
        let first = try Envelope(decoding: pair.firstEnvelope.encoded)
        #expect(try Padding.unpad(pair.bobRatchet.decrypt(header: first.header, ciphertext: first.ciphertext)) == Data("first".utf8))
        let reply = try pair.bobRatchet.encrypt(Data("reply".utf8))
        #expect(try pair.aliceRatchet.decrypt(header: reply.header, ciphertext: reply.ciphertext) == Data("reply".utf8))
        #expect(!first.ciphertext.contains(Data("first".utf8)))
    }

    /// Thousands of messages both ways, shuffled within windows, some dropped, some duplicated:
    /// every delivered message decrypts exactly once; duplicates are rejected as replays.
    @Test func reorderingDropsAndDuplicates() throws {
        var pair = try Pair()
        let first = pair.firstEnvelope
        _ = try pair.bobRatchet.decrypt(header: first.header, ciphertext: first.ciphertext)
        var random = SystemRandomNumberGenerator()
        var decrypted: [String: Int] = [:]
        var expected: Set<String> = []
        var replaysRejected = 0
        for round in 0..<40 {
            let aliceSends = round % 2 == 0
            var batch: [(String, RatchetHeader, Data)] = []
            for n in 0..<Int.random(in: 20...80, using: &random) {
                let text = "\(aliceSends ? "a" : "b")-\(round)-\(n)"
                let (header, ciphertext) = aliceSends ? try pair.aliceRatchet.encrypt(Data(text.utf8)) : try pair.bobRatchet.encrypt(Data(text.utf8))
                batch.append((text, header, ciphertext))
            }
            var delivery = batch.filter { _ in Int.random(in: 0..<10, using: &random) != 0 } // ~10% dropped
            delivery += delivery.filter { _ in Int.random(in: 0..<10, using: &random) == 0 }  // ~10% duplicated
            delivery.shuffle(using: &random)
            for (text, header, ciphertext) in delivery {
                let outcome: Result<Data, E2EError> = aliceSends
                    ? Result { () throws(E2EError) in try pair.bobRatchet.decrypt(header: header, ciphertext: ciphertext) }
                    : Result { () throws(E2EError) in try pair.aliceRatchet.decrypt(header: header, ciphertext: ciphertext) }
                switch outcome {
                case .success(let plain):
                    #expect(String(decoding: plain, as: UTF8.self) == text)
                    decrypted[text, default: 0] += 1
                    expected.insert(text)
                case .failure(.replayed):
                    replaysRejected += 1
                    #expect(decrypted[text] == 1, "only a message already read is called a replay")
                case .failure(let error):
                    Issue.record("\(text): \(error)")
                }
            }
            #expect(pair.bobRatchet.skipped.count <= DoubleRatchet.maxStoredSkipped)
            #expect(pair.aliceRatchet.skipped.count <= DoubleRatchet.maxStoredSkipped)
        }
        #expect(decrypted.values.allSatisfy { $0 == 1 }, "nothing decrypted twice")
        #expect(decrypted.count == expected.count)
        #expect(decrypted.count > 1000)
        #expect(replaysRejected > 0)
    }

    @Test func aFlippedBitIsRejectedAndDoesNotDisturbTheSession() throws {
        var pair = try Pair()
        let first = pair.firstEnvelope
        _ = try pair.bobRatchet.decrypt(header: first.header, ciphertext: first.ciphertext)
        let (header, ciphertext) = try pair.aliceRatchet.encrypt(Data("intact".utf8))
        var damaged = ciphertext
        damaged[damaged.startIndex + 2] ^= 0x01
        #expect(throws: E2EError.authenticationFailed) { try pair.bobRatchet.decrypt(header: header, ciphertext: damaged) }
        var forgedHeader = header
        forgedHeader.previousChainLength += 1
        #expect(throws: E2EError.authenticationFailed) { try pair.bobRatchet.decrypt(header: forgedHeader, ciphertext: ciphertext) }
        #expect(try pair.bobRatchet.decrypt(header: header, ciphertext: ciphertext) == Data("intact".utf8), "the real one still opens")
    }

    @Test func replayIsRejected() throws {
        var pair = try Pair()
        let first = pair.firstEnvelope
        _ = try pair.bobRatchet.decrypt(header: first.header, ciphertext: first.ciphertext)
        #expect(throws: E2EError.replayed(counter: 0)) { try pair.bobRatchet.decrypt(header: first.header, ciphertext: first.ciphertext) }
        // Also after the chain it belonged to is finished.
        let reply = try pair.bobRatchet.encrypt(Data("r".utf8))
        _ = try pair.aliceRatchet.decrypt(header: reply.header, ciphertext: reply.ciphertext)
        let next = try pair.aliceRatchet.encrypt(Data("n".utf8))
        _ = try pair.bobRatchet.decrypt(header: next.header, ciphertext: next.ciphertext)
        #expect(throws: E2EError.replayed(counter: 0)) { try pair.bobRatchet.decrypt(header: first.header, ciphertext: first.ciphertext) }
    }

    @Test func skipBoundIsEnforced() throws {
        var pair = try Pair()
        var last: (RatchetHeader, Data)?
        for _ in 0...(DoubleRatchet.maxSkip + 1) { last = try pair.aliceRatchet.encrypt(Data("x".utf8)) }
        #expect(throws: E2EError.tooManySkipped(requested: DoubleRatchet.maxSkip + 2, limit: DoubleRatchet.maxSkip)) {
            try pair.bobRatchet.decrypt(header: last!.0, ciphertext: last!.1)
        }
    }

    @Test func aForgedSignedPreKeyIsRejected() {
        let bob = IdentityKeys()
        let mallory = IdentityKeys()
        let signed = SignedPreKey(id: 1, identity: mallory)
        let bundle = PreKeyBundle(identitySigningKey: bob.signingPublic, identityAgreementKey: bob.agreementPublic, signedPreKeyID: 1,
                                  signedPreKey: signed.keyPair.publicKey, signedPreKeySignature: signed.signature)
        #expect(throws: E2EError.badSignedPreKeySignature) { try X3DH.initiate(identity: IdentityKeys(), bundle: bundle) }
    }

    @Test func stateSurvivesEncoding() throws {
        var pair = try Pair()
        let stored = try JSONEncoder().encode(pair.bobRatchet)
        var restored = try JSONDecoder().decode(DoubleRatchet.self, from: stored)
        #expect(restored == pair.bobRatchet, "nothing lost in storage")
        let first = pair.firstEnvelope
        #expect(try Padding.unpad(restored.decrypt(header: first.header, ciphertext: first.ciphertext)) == Data("first".utf8))
        // The restored state carries on the conversation.
        let reply = try restored.encrypt(Data("after restart".utf8))
        #expect(try pair.aliceRatchet.decrypt(header: reply.header, ciphertext: reply.ciphertext) == Data("after restart".utf8))
    }
}

@Suite struct EnvelopeAndTrustTests {
    @Test func paddingHidesLengthsInBuckets() throws {
        #expect(Padding.pad(Data()).count == 64)
        #expect(Padding.pad(Data(count: 63)).count == 64)
        #expect(Padding.pad(Data(count: 64)).count == 128)
        #expect(Padding.pad(Data(count: 1000)).count == 1024)
        for n in [0, 1, 63, 64, 500, 4095] {
            let data = Data((0..<n).map { UInt8($0 % 251) })
            #expect(try Padding.unpad(Padding.pad(data)) == data)
        }
        #expect(throws: E2EError.self) { try Padding.unpad(Data(count: 64)) }
        #expect(throws: E2EError.self) { try Padding.unpad(Data([0x41, 0x81, 0, 0])) }
        #expect(throws: E2EError.self) { try Padding.unpad(Data()) }
        // A slice that does not start at index 0, as decryption hands it over.
        let framed = Data([0xff, 0xff]) + Padding.pad(Data("hi".utf8))
        #expect(try Padding.unpad(framed.dropFirst(2)) == Data("hi".utf8))
    }

    @Test func envelopesRejectDamage() throws {
        let pair = try Pair()
        let bytes = pair.firstEnvelope.encoded
        #expect(try Envelope(decoding: bytes) == pair.firstEnvelope)
        var future = bytes
        future[future.startIndex] = 9
        #expect(throws: E2EError.unsupportedVersion(9)) { try Envelope(decoding: future) }
        #expect(throws: E2EError.self) { try Envelope(decoding: bytes.prefix(50)) }
        var kind = bytes
        kind[kind.startIndex + 1] = 3
        #expect(throws: E2EError.malformedEnvelope("unknown kind 3")) { try Envelope(decoding: kind) }
    }

    @Test func safetyNumbersMatchOnBothSidesAndChangeWithAKey() {
        let alice = IdentityKeys(), bob = IdentityKeys(), bobAgain = IdentityKeys()
        let seenByAlice = SafetyNumber.compute(localName: "alice", localSigning: alice.signingPublic, localAgreement: alice.agreementPublic,
                                               remoteName: "bob", remoteSigning: bob.signingPublic, remoteAgreement: bob.agreementPublic)
        let seenByBob = SafetyNumber.compute(localName: "bob", localSigning: bob.signingPublic, localAgreement: bob.agreementPublic,
                                             remoteName: "alice", remoteSigning: alice.signingPublic, remoteAgreement: alice.agreementPublic)
        #expect(seenByAlice == seenByBob)
        #expect(seenByAlice.filter(\.isNumber).count == 60)
        let afterReinstall = SafetyNumber.compute(localName: "alice", localSigning: alice.signingPublic, localAgreement: alice.agreementPublic,
                                                  remoteName: "bob", remoteSigning: bobAgain.signingPublic, remoteAgreement: bobAgain.agreementPublic)
        #expect(afterReinstall != seenByAlice)
    }
}
