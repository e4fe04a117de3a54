import Foundation
import GRDB
@testable import ParlaClient
import ParlaCrypto
import ParlaRelayTesting
import Testing

/// The search index stays exactly the history's text: batches indexed at their end, texts
/// changed in place reindexed, and databases from before the change repaired.
@Suite struct SearchIndexTests {
    /// FTS5's own check, comparing the index with the `messages` rows it was built from.
    static func indexMatchesHistory(_ store: ClientStore) throws -> Bool {
        do {
            try store.pool.write { try $0.execute(sql: "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)") }
            return true
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
            return false
        }
    }

    /// Alice's messages after the first, on the ratchet the first one started.
    static func envelope(_ plaintext: Data, _ ratchet: inout DoubleRatchet) throws -> Data {
        let (header, ciphertext) = try ratchet.encrypt(Padding.pad(plaintext))
        return Envelope(preKey: nil, header: header, ciphertext: ciphertext).encoded
    }

    /// "01"…"30": with prefix search, "number1" would also find "number10".
    static func padded(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func item(_ id: String, _ body: Data) -> ClientStore.EncryptedIncoming {
        .init(id: id, from: "alice", body: body, sentAt: Date())
    }

    @Test func everyMessageOfABatchIsFoundAndNothingElse() throws {
        let handshake = try EndToEndTests.Handshake()
        var (first, ratchet) = try handshake.firstMessage("opening words")
        var items = [Self.item("m0", first)]
        for n in 1...30 { items.append(Self.item("m\(n)", try Self.envelope(Data("note number\(Self.padded(n)) è pronta 🍕".utf8), &ratchet))) }
        let batch = try handshake.bobStore.receiveEncrypted(items, me: "bob", identity: handshake.bob)
        #expect(batch.added.count == 31)
        for n in 1...30 { #expect(try handshake.bobStore.search("number\(Self.padded(n))").map(\.id) == ["m\(n)"]) }
        #expect(try handshake.bobStore.search("opening").map(\.id) == ["m0"])
        #expect(try handshake.bobStore.search("pronta").count == 30)
        #expect(try Self.indexMatchesHistory(handshake.bobStore))

        // A message stored outside a batch is indexed by the trigger as before.
        _ = try handshake.bobStore.enqueueMessage(id: "own", from: "bob", to: "alice", text: "reply words", at: Date())
        #expect(try handshake.bobStore.search("reply").map(\.id) == ["own"])
        #expect(try Self.indexMatchesHistory(handshake.bobStore))
    }

    /// A resent copy replaces the "could not decrypt" text: search finds its words, not the
    /// notice's — whether it comes in a later batch or in the same one as the damaged copy.
    @Test(arguments: [false, true]) func aResentCopyIsFoundByItsOwnWords(sameBatch: Bool) throws {
        let handshake = try EndToEndTests.Handshake()
        var (first, ratchet) = try handshake.firstMessage("hello")
        var damaged = try Self.envelope(Data("pineapple recipe".utf8), &ratchet)
        damaged[damaged.count - 3] ^= 0x40
        let resent = try Self.envelope(MessageContent.resent(id: "m1", text: "pineapple recipe").encoded, &ratchet)
        let items = [Self.item("m0", first), Self.item("m1", damaged), Self.item("m2", resent)]
        let store = handshake.bobStore
        if sameBatch {
            _ = try store.receiveEncrypted(items, me: "bob", identity: handshake.bob)
        } else {
            _ = try store.receiveEncrypted(Array(items.prefix(2)), me: "bob", identity: handshake.bob)
            #expect(try store.search("decrypt").map(\.id) == ["m1"])
            _ = try store.receiveEncrypted([items[2]], me: "bob", identity: handshake.bob)
        }
        #expect(try store.message(sender: "alice", id: "m1")?.text == "pineapple recipe")
        #expect(try store.search("pineapple").map(\.id) == ["m1"])
        #expect(try store.search("decrypt").isEmpty)
        #expect(try Self.indexMatchesHistory(store))
    }

    /// Before the index followed changed texts, a resent copy left the notice's words indexed
    /// (and the index disagreeing with the history): opening such a profile repairs it.
    @Test func aProfileFromBeforeTheFixIsReindexedWhenOpened() throws {
        let path = makeTemporaryDirectory(prefix: "parla-search") + "/old.sqlite"
        do {
            let old = try DatabasePool(path: path)
            try ClientStore.migrator.migrate(old, upTo: "v4-groups")
            try old.write { db in
                try db.execute(sql: """
                    INSERT INTO messages (id, chat, sender, recipient, text, status, sentAt, undecryptable)
                    VALUES ('m1', 'alice', 'alice', 'bob', '⚠ could not decrypt this message', 'received', 0, 1)
                    """)
                try db.execute(sql: "UPDATE messages SET text = 'pineapple recipe', undecryptable = 0 WHERE id = 'm1'")
            }
            try old.close()
        }
        let store = try ClientStore(path: path)
        #expect(try store.search("pineapple").map(\.id) == ["m1"])
        #expect(try store.search("decrypt").isEmpty)
        #expect(try Self.indexMatchesHistory(store))
    }
}
