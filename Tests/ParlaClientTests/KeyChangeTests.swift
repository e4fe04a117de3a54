import Foundation
import GRDB
@testable import ParlaClient
import ParlaCrypto
import ParlaRelayTesting
import Testing

/// What a message under someone's name may change about them: only one that decrypts pins a
/// new key, a replay never starts a session again, and a verified contact's new key gets
/// nothing until the user approves it.
@Suite struct KeyChangeTests {
    typealias Alice = ResendGuardTests.Alice

    func currentSession(_ alice: Alice) throws -> Data? {
        try alice.store.pool.read { db in try Data.fetchOne(db, sql: "SELECT record FROM sessions WHERE peer = 'bob'") }
    }

    @Test func aForgedPrekeyMessageChangesNothing() throws {
        let alice = try Alice()
        let before = try currentSession(alice)
        var forged = try alice.prekeyMessage(from: IdentityKeys(), .text("trust me"))
        forged[forged.count - 1] ^= 0x01 // junk under bob's name: it cannot decrypt
        let batch = try alice.receive(forged, as: "bob")
        #expect(batch.added.allSatisfy { !$0.text.contains("security key changed") }, "no key change without a message that decrypts")
        #expect(try alice.store.contact("bob")?.signingKey == alice.bob.signingPublic, "bob's key stays pinned")
        #expect(try currentSession(alice) == before, "bob's session is not lost")
    }

    @Test func aReplayedPrekeyMessageDoesNotStartASessionAgain() throws {
        let alice = try Alice()
        let first = try alice.prekeyMessage(from: alice.bob, .text("hello from bob"))
        #expect(try alice.receive(first, as: "bob", id: "b1").added.map(\.text) == ["hello from bob"])
        // The session moves on (more sessions started since push it out of the kept ones), and
        // the relay delivers the first message again under a new id.
        for n in 0..<5 { _ = try alice.receive(try alice.prekeyMessage(from: alice.bob, .text("later \(n)")), as: "bob") }
        let current = try currentSession(alice)
        let replay = try alice.receive(first, as: "bob", id: "b1-again")
        #expect(replay.added.first?.text.contains("already decrypted") == true, "\(replay.added.map(\.text))")
        #expect(try currentSession(alice) == current, "the session in use was not replaced")
    }

    @Test func aVerifiedContactsNewKeyGetsNothingUntilApproved() throws {
        let alice = try Alice()
        #expect(try alice.store.setVerified("bob", true))
        let newBob = IdentityKeys()
        let batch = try alice.receive(try alice.prekeyMessage(from: newBob, .text("new phone")), as: "bob")
        #expect(batch.added.contains { $0.text.contains("You had verified bob: nothing is sent to the new key until you approve it") })
        _ = try alice.store.enqueueMessage(id: "m2", from: "alice", to: "bob", text: "are you really bob?", at: Date())
        #expect(throws: ClientStore.KeyChangeUnapproved.self) {
            try alice.store.sealAndCommit(Data("are you really bob?".utf8), for: "bob", startingWith: nil, into: .direct(outboxID: "m2"))
        }
        #expect(try alice.store.approve("bob", me: "alice").marked)
        #expect(try alice.store.sealAndCommit(Data("are you really bob?".utf8), for: "bob", startingWith: nil, into: .direct(outboxID: "m2")) != nil)
    }

    @Test func anUnverifiedContactsNewKeyIsUsedWithAWarning() throws {
        let alice = try Alice()
        _ = try alice.receive(try alice.prekeyMessage(from: IdentityKeys(), .text("reinstalled")), as: "bob")
        _ = try alice.store.enqueueMessage(id: "m2", from: "alice", to: "bob", text: "welcome back", at: Date())
        #expect(try alice.store.sealAndCommit(Data("welcome back".utf8), for: "bob", startingWith: nil, into: .direct(outboxID: "m2")) != nil)
    }
}
