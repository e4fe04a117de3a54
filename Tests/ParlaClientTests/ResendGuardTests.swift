import Foundation
import GRDB
@testable import ParlaClient
import ParlaCrypto
import ParlaRelayTesting
import Testing

/// A resend request gets the plaintext of what it names: only the person a copy was sealed
/// for, under the key pinned for them then, may have it again, once, at a bounded rate.
/// Each attack below is a message the relay (or anyone who can put a frame in alice's
/// mailbox) could deliver; before the guard, the first two leaked plaintext.
@Suite struct ResendGuardTests {
    /// Alice with a direct message to bob and a group message to #team (alice, bob), both
    /// sealed for bob's real key, as her engine seals them.
    struct Alice {
        let keys = IdentityKeys()
        let signed: SignedPreKey
        let store: ClientStore
        let bob = IdentityKeys()

        init() throws {
            store = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-guard") + "/alice.sqlite")
            signed = SignedPreKey(id: 7, identity: keys)
            try store.saveOwnPrekeys(signed: signed, oneTime: [])
            _ = try store.pin(name: "bob", signingKey: bob.signingPublic, agreementKey: bob.agreementPublic, me: "alice")
            let bobSigned = SignedPreKey(id: 1, identity: bob)
            let bundle = PreKeyBundle(identitySigningKey: bob.signingPublic, identityAgreementKey: bob.agreementPublic, signedPreKeyID: 1,
                                      signedPreKey: bobSigned.keyPair.publicKey, signedPreKeySignature: bobSigned.signature,
                                      oneTimePreKeyID: nil, oneTimePreKey: nil)
            let started = try X3DH.initiate(identity: keys, bundle: bundle)
            let ratchet = try DoubleRatchet.initiator(sharedKey: started.sharedKey, remoteRatchetKey: bobSigned.keyPair.publicKey, associatedData: started.associatedData)
            let fresh = ClientStore.Session(ratchet: ratchet, preKey: Envelope.PreKeyPart(
                initiatorSigningKey: keys.signingPublic, initiatorAgreementKey: keys.agreementPublic, ephemeralKey: started.ephemeralPublicKey,
                signedPreKeyID: 1, oneTimePreKeyID: nil), remoteEphemeral: nil)
            _ = try store.enqueueMessage(id: "m1", from: "alice", to: "bob", text: "direct secret", at: Date())
            _ = try store.sealAndCommit(Data("direct secret".utf8), for: "bob", startingWith: fresh, into: .direct(outboxID: "m1"))
            let team = ClientStore.GroupState(name: "team", title: "Team", members: ["alice", "bob"], admins: ["alice"], isMember: true)
            try store.pool.write { db in try ClientStore.saveGroup(db, team) }
            _ = try store.enqueueGroupMessage(id: "g1", from: "alice", group: team, text: "group secret", at: Date())
            _ = try store.sealAndCommit(Data("group secret".utf8), for: "bob", startingWith: nil, into: .groupCopy(outboxID: "g1", member: "bob"))
        }

        /// A first message to alice from `identity` (a new session on her signed prekey).
        func prekeyMessage(from identity: IdentityKeys, _ content: MessageContent) throws -> Data {
            let bundle = PreKeyBundle(identitySigningKey: keys.signingPublic, identityAgreementKey: keys.agreementPublic, signedPreKeyID: signed.id,
                                      signedPreKey: signed.keyPair.publicKey, signedPreKeySignature: signed.signature,
                                      oneTimePreKeyID: nil, oneTimePreKey: nil)
            let started = try X3DH.initiate(identity: identity, bundle: bundle)
            var ratchet = try DoubleRatchet.initiator(sharedKey: started.sharedKey, remoteRatchetKey: signed.keyPair.publicKey, associatedData: started.associatedData)
            let (header, ciphertext) = try ratchet.encrypt(Padding.pad(content.encoded))
            let part = Envelope.PreKeyPart(initiatorSigningKey: identity.signingPublic, initiatorAgreementKey: identity.agreementPublic,
                                           ephemeralKey: started.ephemeralPublicKey, signedPreKeyID: signed.id, oneTimePreKeyID: nil)
            return Envelope(preKey: part, header: header, ciphertext: ciphertext).encoded
        }

        func receive(_ body: Data, as name: String, id: String = UUID().uuidString) throws -> ClientStore.ReceivedBatch {
            try store.receiveEncrypted([.init(id: id, from: name, body: body, sentAt: Date())], me: "alice", identity: keys)
        }

        /// A first message to alice from `identity`, claiming to be `name`, asking for `ids` again.
        func resendRequest(from identity: IdentityKeys, as name: String, ids: [String], id: String = UUID().uuidString) throws -> ClientStore.ReceivedBatch {
            try receive(try prekeyMessage(from: identity, .resendRequest(ids: ids)), as: name, id: id)
        }

        /// The copies queued for `peer` (plaintext inside the outbox, before sealing).
        func resentTo(_ peer: String) throws -> [String] {
            try store.pool.read { db in
                try Data.fetchAll(db, sql: "SELECT payload FROM outbox WHERE kind = 'control' AND recipient = ?", arguments: [peer])
                    .compactMap { data -> String? in
                        guard case .resent(let id, _) = MessageContent(decoding: data) else { return nil }
                        return id
                    }
            }
        }
    }

    @Test func aStrangerGetsNothingNotEvenAGroupMessage() throws {
        let alice = try Alice()
        _ = try alice.resendRequest(from: IdentityKeys(), as: "carol", ids: ["g1", "m1"])
        #expect(try alice.resentTo("carol").isEmpty, "carol was never sent either message")
    }

    @Test func someoneWithBobsNameButANewKeyGetsNothingUntilTheUserApproves() throws {
        let alice = try Alice()
        let batch = try alice.resendRequest(from: IdentityKeys(), as: "bob", ids: ["m1", "g1"])
        #expect(try alice.resentTo("bob").isEmpty, "the copies were sealed for bob's old key")
        let notices = batch.added.filter { $0.from == ClientStore.systemSender }.map(\.text)
        #expect(notices.contains { $0.contains("security key changed") })
        #expect(notices.contains { $0.contains("asked again for 2 messages sent before their security key changed; not sent") }, "\(notices)")
        // The user compares safety numbers and approves the new key: now they go.
        #expect(try alice.store.approve("bob", me: "alice") == (true, 2))
        #expect(try Set(alice.resentTo("bob")) == ["m1", "g1"])
    }

    @Test func bobHimselfGetsEachMessageOnce() throws {
        let alice = try Alice()
        _ = try alice.resendRequest(from: alice.bob, as: "bob", ids: ["m1", "g1", "not-ours"])
        #expect(try Set(alice.resentTo("bob")) == ["m1", "g1"])
        _ = try alice.resendRequest(from: alice.bob, as: "bob", ids: ["m1", "g1"])
        #expect(try alice.resentTo("bob").count == 2, "asking again sends nothing more")
    }

    @Test func resendsAreCappedPerHour() throws {
        let alice = try Alice()
        let ids = (0..<(ClientStore.resendsPerHour + 50)).map { "bulk\($0)" }
        try alice.store.pool.write { db in
            for id in ids {
                try db.execute(sql: "INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt) VALUES (?, 'bob', 'alice', 'bob', 'x', 'sent', 0)",
                               arguments: [id])
                try ClientStore.recordSealed(db, id: id, for: "bob", key: alice.bob.signingPublic)
            }
        }
        _ = try alice.resendRequest(from: alice.bob, as: "bob", ids: ids)
        #expect(try alice.resentTo("bob").count == ClientStore.resendsPerHour)
    }
}

/// Ticks tell the truth: a receipt counts only from the person the message went to.
@Suite struct ReceiptSourceTests {
    @Test func aStrangersReadReceiptDoesNotMarkAMessageRead() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "carol", on: relay)
        let (alice, bob, carol) = (engines[0], engines[1], engines[2])
        alice.start()
        let sent = try await alice.client.send("for bob only", to: "bob")
        try await eventually("stored by the relay") { try alice.store.history(chat: "bob", limit: 5).first?.status == .sent }
        // Carol knows (or guesses) the id and says she read it; she also talks to alice so the relay passes it on.
        _ = try await carol.client.send("hi alice", to: "alice")
        try await carol.store.pool.write { db in
            try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('read', 'fake-read', 'alice', ?)", arguments: [Data(sent.id.utf8)])
        }
        carol.start()
        try await eventually("carol's message reached alice") { try alice.store.allMessages().contains { $0.text == "hi alice" } }
        try await eventually("carol's receipt went out") { try carol.store.outboxCount() == 0 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try alice.store.history(chat: "bob", limit: 5).first?.status == .sent, "not read: carol never had it")
        // Bob's own receipts do count.
        bob.start()
        try await eventually("delivered to bob") { try alice.store.history(chat: "bob", limit: 5).first?.status == .delivered }
        try await bob.client.markRead(chat: "alice")
        try await eventually("read by bob") { try alice.store.history(chat: "bob", limit: 5).first?.status == .read }
        await alice.shutdown()
        await bob.shutdown()
        await carol.shutdown()
    }
}
