import Foundation
@testable import ParlaClient
import ParlaCrypto
import ParlaRelay
import ParlaRelayTesting
import Testing

/// End-to-end encryption through real engines and a real relay, and the decrypt-and-store
/// transaction on its own.
@Suite struct EndToEndTests {
    @Test func theRelayNeverSeesAPlaintextAndBothSidesAgreeOnSafetyNumbers() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let bob = try TestProfiles.engine(for: try await TestProfiles.register("bob", url: relay.url))
        let marker = "MARKER-\(UUID().uuidString)"
        alice.start()
        // Bob is offline: the message waits in the relay's mailbox, encrypted.
        for n in 0..<20 { _ = try await alice.client.send("\(marker) \(n)", to: "bob") }
        try await eventually("all stored by the relay") { try alice.store.outboxCount() == 0 }
        let stored = try relay.databaseFileBytes()
        #expect(stored.range(of: Data(marker.utf8)) == nil, "the relay's database holds only ciphertext")
        bob.start()
        try await eventually("bob decrypted all twenty, in order") {
            await bob.log.added().map(\.text) == (0..<20).map { "\(marker) \($0)" }
        }
        _ = try await bob.client.send("reply \(marker)", to: "alice")
        try await eventually("alice decrypted the reply") { await alice.log.added().map(\.text).contains("reply \(marker)") }
        #expect(try relay.databaseFileBytes().range(of: Data(marker.utf8)) == nil)
        let aliceSees = try #require(try await alice.client.safetyNumber(with: "bob"))
        let bobSees = try #require(try await bob.client.safetyNumber(with: "alice"))
        #expect(aliceSees == bobSees)
        #expect(aliceSees.filter(\.isNumber).count == 60)
        // `parla verify` shows the same number and records the check.
        let home = alice.client.profile.directory
        let shown = try await runParla(["verify", "bob", "--home", home, "--json"])
        #expect(shown.status == 0, "\(shown.err)")
        #expect(shown.out.contains("\"safetyNumber\":\"\(aliceSees)\"") && shown.out.contains("\"verified\":false"), "\(shown.out)")
        #expect(try await runParla(["verify", "bob", "--mark", "--home", home]).out.contains("bob is verified."))
        #expect(try await alice.client.contact("bob")?.verified == true)
        let unknown = try await runParla(["verify", "carol", "--home", home])
        #expect(unknown.status == 1 && unknown.err.contains("no keys for carol yet"))
        await alice.shutdown()
        await bob.shutdown()
    }

    /// Bob loses his database (a reinstall that kept only his identity): Alice's messages on
    /// the old session cannot be decrypted, so Bob's Parla asks for them again over a new
    /// session; they arrive once each, in their original place, and both sides see a notice.
    /// The one-time prekeys the relay still held for Bob are replaced, so a new contact's
    /// first message decrypts too.
    @Test func aLostSessionIsRebuiltAndItsMessagesAreSentAgain() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let bobProfile = try await TestProfiles.register("bob", url: relay.url)
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let carol = try TestProfiles.engine(for: try await TestProfiles.register("carol", url: relay.url))
        var bob = try TestProfiles.engine(for: bobProfile)
        alice.start()
        bob.start()
        _ = try await alice.client.send("before", to: "bob")
        try await eventually("bob got the first") { try bob.store.allMessages().contains { $0.text == "before" } }
        _ = try await bob.client.send("hi alice", to: "alice")
        try await eventually("alice got the reply") { try alice.store.allMessages().contains { $0.text == "hi alice" } }
        await bob.shutdown()

        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: bobProfile.databasePath + suffix) }
        _ = try await alice.client.send("after reinstall 1", to: "bob")
        _ = try await alice.client.send("after reinstall 2", to: "bob")
        try await eventually("queued on the relay") { try alice.store.outboxCount() == 0 }

        bob = try TestProfiles.engine(for: bobProfile)
        bob.start()
        try await eventually(timeout: .seconds(20), "bob reads both after the resend") {
            let texts = try bob.store.history(chat: "alice", limit: 50).map(\.text)
            return texts == ["after reinstall 1", "after reinstall 2"]
        }
        let aliceNotices = try alice.store.history(chat: "bob", limit: 50).filter { $0.from == ClientStore.systemSender }.map(\.text)
        // Bob may have decrypted his mailbox in one batch or two; either way Alice sees one notice.
        #expect(aliceNotices.count == 1 && aliceNotices[0].contains("could not decrypt 2 of your messages"), "\(aliceNotices)")

        // The new session is used from now on in both directions: nothing more to resend.
        _ = try await alice.client.send("on the new session", to: "bob")
        _ = try await bob.client.send("back again", to: "alice")
        try await eventually("both directions work") {
            try bob.store.allMessages().contains { $0.text == "on the new session" } && alice.store.allMessages().contains { $0.text == "back again" }
        }
        #expect(try !bob.store.allMessages().contains { $0.text.hasPrefix("⚠") })

        // Carol's first message uses a one-time prekey from the batch published after the reinstall.
        carol.start()
        _ = try await carol.client.send("hello from carol", to: "bob")
        try await eventually("carol's first message decrypts") { try bob.store.allMessages().contains { $0.text == "hello from carol" } }
        #expect(try !bob.store.allMessages().contains { $0.text.hasPrefix("⚠") })
        await alice.shutdown()
        await bob.shutdown()
        await carol.shutdown()
    }

    /// Resend requests that follow each other update one notice; one that comes after other
    /// messages starts a new notice, so the chat never rewrites older history.
    @Test func consecutiveResendRequestsShareOneNotice() throws {
        let store = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-resend") + "/a.sqlite")
        let bob = IdentityKeys()
        _ = try store.pin(name: "bob", signingKey: bob.signingPublic, agreementKey: bob.agreementPublic, me: "alice")
        for n in 1...5 {
            _ = try store.enqueueMessage(id: "m\(n)", from: "alice", to: "bob", text: "text \(n)", at: Date())
            // As sealing does: only what was sealed for bob's key can be asked for again.
            try store.pool.write { db in try ClientStore.recordSealed(db, id: "m\(n)", for: "bob", key: bob.signingPublic) }
        }
        func request(_ ids: [String]) throws -> ClientStore.ReceivedBatch {
            try store.pool.write { db in
                var batch = ClientStore.ReceivedBatch()
                try ClientStore.resend(db, ids: ids, to: "bob", me: "alice", at: Date(), into: &batch)
                return batch
            }
        }
        let first = try request(["m1"])
        #expect(first.added.map(\.text) == [ResendNotice(count: 1).text(peer: "bob")] && first.queuedControl)
        let second = try request(["m2", "not-ours"])
        #expect(second.added.isEmpty && second.updated.map(\.localID) == first.added.map(\.localID))
        #expect(second.updated.first?.text.contains("could not decrypt 2 of your messages") == true)
        _ = try store.enqueueMessage(id: "m6", from: "alice", to: "bob", text: "in between", at: Date())
        let third = try request(["m3"])
        #expect(third.added.first?.text.contains("could not decrypt 1 of your messages") == true && third.updated.isEmpty)
        let notices = try store.history(chat: "bob", limit: 50).filter { $0.from == ClientStore.systemSender }
        #expect(notices.map(\.text) == [ResendNotice(count: 2).text(peer: "bob"), ResendNotice(count: 1).text(peer: "bob")])
        #expect(try request(["unknown"]).added.isEmpty, "nothing of ours to resend: no notice")
        #expect(ResendNotice(id: "notice-1234") == nil && ResendNotice(id: notices[0].id)?.count == 2)
    }

    @Test func controlContentRoundTripsAndTextsStayPlain() throws {
        for content: MessageContent in [.text("hello ✓"), .resendRequest(ids: ["a", "b"]), .resent(id: "x", text: "again")] {
            #expect(MessageContent(decoding: content.encoded) == content)
        }
        #expect(MessageContent.text("hi").encoded == Data("hi".utf8), "a text is exactly its UTF-8 bytes")
        #expect(MessageContent(decoding: Data([0]) + Data(#"{"type":"from-the-future"}"#.utf8)) == nil)
    }

    /// Two engines exchange thousands of messages both ways while incoming messages are
    /// reordered, duplicated and lost (then redelivered after reconnects): every message
    /// is decrypted and stored exactly once, none fails to decrypt.
    @Test func thousandsOfMessagesThroughReorderingDuplicatesAndLoss() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        func chaotic(_ profile: Profile) throws -> RunningClient {
            RunningClient(client: try ParlaClient(profile: profile, transport: ChaosTransport(inner: WebSocketTransport(logger: TestProfiles.quietLogger), framesPerLink: 400),
                                                  policy: TestProfiles.fastRetry, logger: TestProfiles.quietLogger))
        }
        let alice = try chaotic(try await TestProfiles.register("alice", url: relay.url))
        let bob = try chaotic(try await TestProfiles.register("bob", url: relay.url))
        alice.start()
        bob.start()
        let perSide = 1_000
        for n in 0..<perSide {
            _ = try await alice.client.send("a\(n)", to: "bob")
            _ = try await bob.client.send("b\(n)", to: "alice")
        }
        try await eventually(timeout: .seconds(120), "every message arrived") {
            try bob.store.allMessages().filter { $0.from == "alice" }.count == perSide
                && alice.store.allMessages().filter { $0.from == "bob" }.count == perSide
        }
        let atBob = try bob.store.allMessages().filter { $0.from == "alice" }.map(\.text)
        let atAlice = try alice.store.allMessages().filter { $0.from == "bob" }.map(\.text)
        #expect(Set(atBob) == Set((0..<perSide).map { "a\($0)" }) && atBob.count == perSide, "each once, none undecryptable")
        #expect(Set(atAlice) == Set((0..<perSide).map { "b\($0)" }) && atAlice.count == perSide)
        await alice.shutdown()
        await bob.shutdown()
    }

    /// The real relay executable at its most verbose: neither its log nor its files ever hold the text.
    @Test func theRelaysLogAtTraceLevelNeverHoldsAPlaintext() async throws {
        let relay = try await RelayProcess.start(arguments: ["--log-level", "trace"])
        defer { relay.terminateSoon() }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let bob = try TestProfiles.engine(for: try await TestProfiles.register("bob", url: relay.url))
        let marker = "MARKER-\(UUID().uuidString)"
        alice.start()
        bob.start()
        for n in 0..<10 { _ = try await alice.client.send("\(marker) \(n)", to: "bob") }
        try await eventually("bob decrypted all") { await bob.log.added().count == 10 }
        await alice.shutdown()
        await bob.shutdown()
        await relay.terminate()
        #expect(!relay.log.isEmpty, "the relay did log")
        #expect(!relay.log.contains(marker))
        var files = Data()
        for file in (try? FileManager.default.contentsOfDirectory(atPath: relay.dataDirectory)) ?? [] {
            files.append(FileManager.default.contents(atPath: relay.dataDirectory + "/" + file) ?? Data())
        }
        #expect(files.range(of: Data(marker.utf8)) == nil)
    }

    /// Bob's side of a first message, built by hand so the tests can tamper with it.
    struct Handshake {
        let alice = IdentityKeys()
        let bob = IdentityKeys()
        let bobStore: ClientStore
        let signed: SignedPreKey
        let oneTime: OneTimePreKey

        init() throws {
            bobStore = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-e2e") + "/bob.sqlite")
            signed = SignedPreKey(id: 1, identity: bob)
            oneTime = OneTimePreKey(id: 2)
            try bobStore.saveOwnPrekeys(signed: signed, oneTime: [oneTime])
        }

        /// A new session from Alice (a fresh X3DH each time) and its first envelope.
        func firstMessage(_ text: String) throws -> (envelope: Data, ratchet: DoubleRatchet) {
            let bundle = PreKeyBundle(identitySigningKey: bob.signingPublic, identityAgreementKey: bob.agreementPublic, signedPreKeyID: signed.id,
                                      signedPreKey: signed.keyPair.publicKey, signedPreKeySignature: signed.signature,
                                      oneTimePreKeyID: oneTime.id, oneTimePreKey: oneTime.keyPair.publicKey)
            let started = try X3DH.initiate(identity: alice, bundle: bundle)
            var ratchet = try DoubleRatchet.initiator(sharedKey: started.sharedKey, remoteRatchetKey: signed.keyPair.publicKey, associatedData: started.associatedData)
            let (header, ciphertext) = try ratchet.encrypt(Padding.pad(Data(text.utf8)))
            let part = Envelope.PreKeyPart(initiatorSigningKey: alice.signingPublic, initiatorAgreementKey: alice.agreementPublic,
                                           ephemeralKey: started.ephemeralPublicKey, signedPreKeyID: signed.id, oneTimePreKeyID: oneTime.id)
            return (Envelope(preKey: part, header: header, ciphertext: ciphertext).encoded, ratchet)
        }

        func receive(_ id: String, _ body: Data) throws -> [MessageRecord] {
            try bobStore.receiveEncrypted([.init(id: id, from: "alice", body: body, sentAt: Date())], me: "bob", identity: bob).added
        }
    }

    @Test func aRedeliveryAfterACrashBeforeConfirmIsNeitherLostNorDoubled() throws {
        let handshake = try Handshake()
        let (envelope, _) = try handshake.firstMessage("only once")
        #expect(try handshake.receive("m1", envelope).map(\.text) == ["only once"])
        // The process died after the commit but before `confirm`: the relay delivers it again.
        #expect(try handshake.receive("m1", envelope).isEmpty)
        #expect(try handshake.bobStore.allMessages().map(\.text) == ["only once"])
    }

    /// A batch is checked for stored messages once, and each chat row is written once: a
    /// redelivered message and a copy repeated within the batch are neither decrypted again
    /// nor counted, and the chat's unread count and time are those of the new messages.
    @Test func aBatchStoresAndCountsEachNewMessageOnce() throws {
        let handshake = try Handshake()
        var (first, ratchet) = try handshake.firstMessage("one")
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        func item(_ id: String, _ body: Data, _ seconds: Double) -> ClientStore.EncryptedIncoming {
            .init(id: id, from: "alice", body: body, sentAt: start + seconds)
        }
        #expect(try handshake.bobStore.receiveEncrypted([item("m1", first, 0)], me: "bob", identity: handshake.bob).added.map(\.text) == ["one"])
        let second = try SearchIndexTests.envelope(Data("two".utf8), &ratchet)
        let third = try SearchIndexTests.envelope(Data("three".utf8), &ratchet)
        let batch = try handshake.bobStore.receiveEncrypted([item("m1", first, 0), item("m3", third, 20), item("m2", second, 10), item("m3", third, 20)],
                                                            me: "bob", identity: handshake.bob)
        #expect(batch.added.map(\.text) == ["three", "two"])
        #expect(try handshake.bobStore.allMessages().map(\.text) == ["one", "three", "two"])
        #expect(try handshake.bobStore.chats() == [ChatSummary(name: "alice", unread: 3, lastActivity: start + 20, lastMessage: "two")])
    }

    @Test func damagedReplayedAndReusedPrekeyMessagesAreShownWithTheirReason() throws {
        let handshake = try Handshake()
        var (envelope, ratchet) = try handshake.firstMessage("first")
        var damaged = envelope
        damaged[damaged.count - 3] ^= 0x40
        #expect(try handshake.receive("bad", damaged).map(\.text) == ["⚠ could not decrypt this message: the message failed authentication (altered in transit, or sent with other keys); asked alice to send it again"])
        #expect(try handshake.receive("m1", envelope).map(\.text) == ["first"], "a damaged copy did not spoil the session")
        // The same ciphertext under a new id: a replay.
        #expect(try handshake.receive("m1-again", envelope).first?.text.contains("was already decrypted") == true)
        // A second session that names the one-time prekey already used.
        let (second, _) = try handshake.firstMessage("second session")
        #expect(try handshake.receive("m2", second).first?.text == "⚠ could not decrypt this message: one-time prekey 2 is unknown or was already used; asked alice to send it again")
        // Later messages on the good session still decrypt.
        let (header, ciphertext) = try ratchet.encrypt(Padding.pad(Data("still fine".utf8)))
        let next = Envelope(preKey: nil, header: header, ciphertext: ciphertext).encoded
        envelope = next
        #expect(try handshake.receive("m3", envelope).map(\.text) == ["still fine"])
    }

    @Test func aChangedIdentityKeyWarnsAndClearsVerified() throws {
        let store = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-pin") + "/a.sqlite")
        let first = IdentityKeys(), second = IdentityKeys()
        #expect(try store.pin(name: "bob", signingKey: first.signingPublic, agreementKey: first.agreementPublic, me: "alice") == nil, "first use: pinned silently")
        #expect(try store.setVerified("bob", true))
        #expect(try store.pin(name: "bob", signingKey: first.signingPublic, agreementKey: first.agreementPublic, me: "alice") == nil)
        let notice = try #require(try store.pin(name: "bob", signingKey: second.signingPublic, agreementKey: second.agreementPublic, me: "alice"))
        #expect(notice.chat == "bob" && notice.from == ClientStore.systemSender)
        #expect(notice.text.contains("bob's security key changed"))
        #expect(try store.contact("bob")?.verified == false)
        #expect(try store.contact("bob")?.signingKey == second.signingPublic)
    }
}
