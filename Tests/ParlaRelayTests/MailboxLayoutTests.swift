import Foundation
import GRDB
import Testing

@testable import ParlaRelay

/// Each user's mailbox is its own range of rows: order, paging, expiry and the upgrade of a
/// database written by an earlier relay (one relay-wide sequence) must all hold per mailbox.
@Suite struct MailboxLayoutTests {
    private let key = Data(repeating: 1, count: 32)
    private let day: Int64 = 86_400_000

    private func makeDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "parla-mailbox-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    private func register(_ names: [String], in store: SQLiteMailboxStore) async throws {
        for name in names {
            let outcome = try await store.register(UserRecord(name: name, signingKey: key, agreementKey: key), invite: nil, registrationOpen: true, now: 0)
            #expect(outcome == .registered)
        }
    }

    private func send(_ id: String, from sender: String, to recipient: String, in store: SQLiteMailboxStore, now: Int64 = 1, expiresAt: Int64? = nil) async throws {
        let outcome = try await store.enqueueAccept(id: id, from: sender, to: recipient, body: Data(id.utf8), now: now, expiresAt: expiresAt ?? now + day,
                                                    quota: MailboxQuota()).value()
        #expect(outcome == .stored, "\(id)")
    }

    @Test func interleavedMailboxesEachKeepTheirOwnOrderAndPageByPosition() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteMailboxStore(directory: directory)
        try await register(["alice", "bob", "carol"], in: store)
        for n in 0..<30 {
            try await send("b\(n)", from: "alice", to: "bob", in: store)
            try await send("c\(n)", from: "alice", to: "carol", in: store)
        }
        var bobs: [MailboxItem] = []
        while true {
            let page = try await store.pending(for: "bob", after: bobs.last?.seq ?? 0, limit: 7)
            if page.isEmpty { break }
            bobs += page
        }
        #expect(bobs.map(\.id) == (0..<30).map { "b\($0)" })
        #expect(bobs.map(\.seq) == Array(1...30))
        #expect(try await store.pending(for: "carol", after: 0, limit: 100).map(\.id) == (0..<30).map { "c\($0)" })
        #expect(try await store.pending(for: "alice", after: 0, limit: 100).isEmpty)
        #expect(try await store.pending(for: "nobody", after: 0, limit: 100).isEmpty)

        // Confirming bob's first ten leaves carol's untouched and gives alice one receipt.
        let confirmed = try await store.confirm(user: "bob", ids: (0..<10).map { "b\($0)" }, now: 2, receiptExpiresAt: 2 + day)
        #expect(confirmed.deletedMessages == 10)
        #expect(try await store.pending(for: "bob", after: 0, limit: 100).map(\.id) == (10..<30).map { "b\($0)" })
        #expect(try await store.pending(for: "carol", after: 0, limit: 100).count == 30)
        let receipts = try await store.pending(for: "alice", after: 0, limit: 100)
        #expect(receipts.map(\.kind) == [.delivered])
        #expect(String(decoding: receipts[0].body, as: UTF8.self) == (0..<10).map { "b\($0)" }.joined(separator: "\n"))
    }

    @Test func confirmingByPositionDeletesExactlyTheConfirmedItems() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteMailboxStore(directory: directory)
        try await register(["alice", "bob", "carol"], in: store)
        for n in 1...8 { try await send("m\(n)", from: n % 2 == 0 ? "alice" : "carol", to: "bob", in: store) }
        let items = try await store.pending(for: "bob", after: 0, limit: 10)
        let seq = Dictionary(uniqueKeysWithValues: items.map { ($0.id, $0.seq) })
        // Runs 1-3 and 5-6 by position (6 twice), m8 by id alone, m4 and m7 not confirmed.
        let confirmed: [ConfirmedItem] = ["m1", "m2", "m3", "m5", "m6", "m6"].map { ConfirmedItem(id: $0, seq: seq[$0]) } + [ConfirmedItem(id: "m8")]
        let outcome = try await store.confirm(user: "bob", items: confirmed, now: 2, receiptExpiresAt: 2 + day)
        #expect(outcome.deletedMessages == 6)
        #expect(Set(outcome.notified) == ["alice", "carol"])
        #expect(try await store.pending(for: "bob", after: 0, limit: 10).map(\.id) == ["m4", "m7"])
        let toAlice = try await store.pending(for: "alice", after: 0, limit: 10)
        #expect(toAlice.map { String(decoding: $0.body, as: UTF8.self) } == ["m2\nm6\nm8"])
        #expect(try await store.stats().pendingMessages == 2)
        // Confirming again changes nothing.
        #expect(try await store.confirm(user: "bob", items: confirmed, now: 3, receiptExpiresAt: 3 + day).deletedMessages == 0)
    }

    @Test func expiryVisitsOnlyMailboxesWithSomethingDue() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteMailboxStore(directory: directory)
        try await register(["alice", "bob", "carol"], in: store)
        try await send("early", from: "alice", to: "bob", in: store, expiresAt: 100)
        try await send("late", from: "alice", to: "bob", in: store, expiresAt: 10_000)
        // Carol's early message is delivered before it expires: nothing of hers may expire.
        try await send("c-early", from: "alice", to: "carol", in: store, expiresAt: 100)
        try await send("c-late", from: "alice", to: "carol", in: store, expiresAt: 10_000)
        _ = try await store.confirm(user: "carol", ids: ["c-early"], now: 50, receiptExpiresAt: 50_000)

        let first = try await store.expire(now: 200, receiptExpiresAt: 50_000)
        #expect(first.expiredMessages == 1)
        #expect(first.notified == ["alice"])
        #expect(try await store.pending(for: "bob", after: 0, limit: 10).map(\.id) == ["late"])
        #expect(try await store.pending(for: "carol", after: 0, limit: 10).map(\.id) == ["c-late"])
        #expect(try await store.pending(for: "alice", after: 0, limit: 10).map(\.kind) == [.delivered, .expired])
        let stats = try await store.stats()
        #expect(stats.pendingMessages == 2)

        // Each mailbox now remembers its next expiry: nothing more is due until it comes.
        #expect(try await store.expire(now: 9_999, receiptExpiresAt: 50_000).expiredMessages == 0)
        let last = try await store.expire(now: 10_000, receiptExpiresAt: 50_000)
        #expect(last.expiredMessages == 2)
        #expect(try await store.stats().pendingMessages == 0)
        // The quota counts follow: bob can be sent his full quota again.
        let quota = MailboxQuota(maxMessages: 1, maxBytes: 1_000)
        #expect(try await store.enqueueAccept(id: "again", from: "alice", to: "bob", body: Data("x".utf8), now: 10_001, expiresAt: 20_000, quota: quota).value() == .stored)
    }

    @Test func theLayoutsLimitsAreRefusedWithAClearErrorAndNothingElseChanges() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteMailboxStore(directory: directory)
        try await register(["alice", "bob"], in: store)
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE users SET lastSeq = ? WHERE name = 'bob'", arguments: [SQLiteMailboxStore.maxSeq - 1])
            try db.execute(sql: "UPDATE users SET box = ? WHERE name = 'alice'", arguments: [SQLiteMailboxStore.maxBox])
        }
        // Bob's mailbox takes its last position, then refuses; alice's (the highest box) works as any other.
        try await send("last", from: "alice", to: "bob", in: store)
        let refused = await #expect(throws: StoreError.self) {
            _ = try await store.enqueueAccept(id: "one-more", from: "alice", to: "bob", body: Data(), now: 1, expiresAt: day, quota: MailboxQuota()).value()
        }
        #expect("\(refused!)".contains("has used all of its"))
        try await send("to-alice", from: "bob", to: "alice", in: store)
        #expect(try await store.pending(for: "alice", after: 0, limit: 10).map(\.id) == ["to-alice"])
        #expect(try await store.pending(for: "bob", after: 0, limit: 10).map(\.seq) == [SQLiteMailboxStore.maxSeq])
        // Alice's confirmation would owe bob a receipt he has no room for: it is dropped, the confirmation is not.
        #expect(try await store.confirm(user: "alice", ids: ["to-alice"], now: 2, receiptExpiresAt: day).deletedMessages == 1)
        #expect(try await store.pending(for: "alice", after: 0, limit: 10).isEmpty)
        #expect(try await store.pending(for: "bob", after: 0, limit: 10).map(\.id) == ["last"])

        // No range is left for another account.
        await #expect(throws: StoreError.self) {
            _ = try await store.register(UserRecord(name: "carol", signingKey: key, agreementKey: key), invite: nil, registrationOpen: true, now: 0)
        }
        #expect(try await store.user(named: "carol") == nil)
        #expect(try await store.stats().pendingMessages == 1)
    }

    @Test func aDatabaseFromTheEarlierLayoutKeepsEveryItemInOrder() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // An earlier relay's database: one sequence for the whole relay, mailboxes interleaved.
        do {
            let pool = try DatabasePool(path: (directory as NSString).appendingPathComponent("relay.sqlite"))
            try SQLiteMailboxStore.migrator.migrate(pool, upTo: "v3-groups")
            try await pool.write { db in
                for name in ["alice", "bob", "carol"] {
                    try db.execute(sql: "INSERT INTO users (name, signingKey, agreementKey, createdAt) VALUES (?, ?, ?, 0)", arguments: [name, key, key])
                }
                let items: [(String, String, Int, Int64)] = [
                    ("bob", "m1", 0, 100), ("carol", "c1", 0, 100), ("bob", "r-1", 1, 5_000), ("carol", "c2", 0, 9_000), ("bob", "m2", 0, 9_000),
                ]
                for (recipient, id, kind, expiresAt) in items {
                    try db.execute(sql: "INSERT INTO mailbox (recipient, id, sender, kind, body, acceptedAt, expiresAt) VALUES (?, ?, 'alice', ?, ?, 1, ?)",
                                   arguments: [recipient, id, kind, Data(id.utf8), expiresAt])
                }
                try db.execute(sql: "UPDATE users SET pendingMessages = 2, pendingBytes = 4 WHERE name IN ('bob', 'carol')")
            }
        }
        let store = try SQLiteMailboxStore(directory: directory)
        let bob = try await store.pending(for: "bob", after: 0, limit: 10)
        #expect(bob.map(\.id) == ["m1", "r-1", "m2"])
        #expect(bob.map(\.kind) == [.message, .delivered, .message])
        #expect(bob.map(\.seq) == [1, 2, 3])
        #expect(try await store.pending(for: "carol", after: 0, limit: 10).map(\.id) == ["c1", "c2"])
        #expect(try await store.stats() == RelayStats(users: 3, pendingMessages: 4, pendingReceipts: 1, databaseBytes: store.databaseBytes()))

        // New items go after the old ones, in every mailbox and for users registered now.
        try await register(["dave"], in: store)
        try await send("m3", from: "alice", to: "bob", in: store)
        try await send("d1", from: "alice", to: "dave", in: store)
        #expect(try await store.pending(for: "bob", after: 3, limit: 10).map(\.id) == ["m3"])
        #expect(try await store.pending(for: "dave", after: 0, limit: 10).map(\.id) == ["d1"])
        // An id taken in the old layout is still taken.
        let reused = try await store.enqueueAccept(id: "m2", from: "carol", to: "bob", body: Data(), now: 2, expiresAt: 2 + day, quota: MailboxQuota()).value()
        #expect(reused == .idConflict)

        // The old items' expiry times came across: the two due at 100 expire, nothing else.
        let expired = try await store.expire(now: 100, receiptExpiresAt: 50_000)
        #expect(expired.expiredMessages == 2)
        #expect(try await store.pending(for: "bob", after: 0, limit: 10).map(\.id) == ["r-1", "m2", "m3"])
        #expect(try await store.pending(for: "carol", after: 0, limit: 10).map(\.id) == ["c2"])
    }
}
