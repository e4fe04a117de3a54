import Foundation
@testable import ParlaClient
import ParlaRelay
import ParlaRelayTesting
import Testing

@Suite struct EngineTests {
    @Test func ticksProgressFromQueuedToRead() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let bob = try TestProfiles.engine(for: try await TestProfiles.register("bob", url: relay.url))

        let record = try await alice.client.send("ciao bob", to: "bob")
        #expect(record.status == .queued)
        alice.start()
        try await eventually("sent") { try alice.store.message(localID: record.localID)?.status == .sent }
        bob.start()
        try await eventually("bob has it") { await bob.log.added().map(\.text) == ["ciao bob"] }
        try await eventually("delivered") { try alice.store.message(localID: record.localID)?.status == .delivered }
        #expect(try bob.store.chats().first?.unread == 1)
        try await bob.client.markRead(chat: "alice")
        #expect(try bob.store.chats().first?.unread == 0)
        try await eventually("read") { try alice.store.message(localID: record.localID)?.status == .read }
        // The events reach the log after the store has changed, through the engine's event stream.
        try await eventually("the read tick's event") { await alice.log.statuses(of: record.id).last == .read }
        #expect(await alice.log.statuses(of: record.id) == [.queued, .sent, .delivered, .read])
        await alice.shutdown()
        await bob.shutdown()
    }

    /// Both online: the message goes live, and the relay's one `ack` says it was delivered —
    /// two ticks at once, with no receipt left for Alice to fetch and confirm.
    @Test func aLiveDeliveryIsAcknowledgedAsDelivered() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let bob = try TestProfiles.engine(for: try await TestProfiles.register("bob", url: relay.url))
        alice.start()
        bob.start()
        await alice.client.waitUntilSynced()
        await bob.client.waitUntilSynced()

        let record = try await alice.client.send("live, ciao", to: "bob")
        try await eventually("bob has it") { await bob.log.added().map(\.text) == ["live, ciao"] }
        try await eventually("delivered") { try alice.store.message(localID: record.localID)?.status == .delivered }
        // The UI's events arrive on their own task, just after the store has the status: wait for them, then
        // require exactly these two (a plain ack would have shown "sent" in between).
        try await eventually("the UI told queued, then delivered") { await alice.log.statuses(of: record.id).last == .delivered }
        #expect(await alice.log.statuses(of: record.id) == [.queued, .delivered])
        #expect(try alice.store.outboxCount() == 0)
        let stats = try await relay.relay.store.stats()
        #expect(stats.pendingMessages == 0 && stats.pendingReceipts == 0)
        await alice.shutdown()
        await bob.shutdown()
    }

    @Test func readReceiptsOffMeansNeitherSendingNorSeeingThem() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        let bob = try TestProfiles.engine(for: try await TestProfiles.register("bob", url: relay.url))
        try await bob.client.setReadReceipts(false)
        alice.start()
        bob.start()
        let toBob = try await alice.client.send("one", to: "bob")
        try await eventually("delivered") { try alice.store.message(localID: toBob.localID)?.status == .delivered }
        try await bob.client.markRead(chat: "alice")
        let toAlice = try await bob.client.send("two", to: "alice")
        try await eventually("bob's delivered") { try bob.store.message(localID: toAlice.localID)?.status == .delivered }
        try await alice.client.markRead(chat: "bob")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try alice.store.message(localID: toBob.localID)?.status == .delivered, "bob sent no read receipt")
        #expect(try bob.store.message(localID: toAlice.localID)?.status == .delivered, "bob does not see alice's")
        await alice.shutdown()
        await bob.shutdown()
    }

    @Test func rejectedMessagesShowTheirReasonAndCanBeRetriedOrDeleted() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        alice.start()
        let record = try await alice.client.send("hello?", to: "nobody")
        try await eventually("failed") { try alice.store.message(localID: record.localID)?.status == .failed }
        let failed = try #require(try alice.store.message(localID: record.localID))
        #expect(failed.failureReason?.contains("no user named 'nobody'") == true)
        #expect(await alice.client.outboxCount() == 0)

        // nobody registers; a retry under the same id now goes through.
        _ = try await TestProfiles.register("nobody", url: relay.url)
        _ = try await alice.client.retry(localID: record.localID)
        try await eventually("sent after retry") { try alice.store.message(localID: record.localID)?.status == .sent }

        let again = try await alice.client.send("x", to: "ghost")
        try await eventually("failed again") { try alice.store.message(localID: again.localID)?.status == .failed }
        #expect(try await alice.client.deleteFailed(localID: again.localID))
        #expect(try alice.store.message(localID: again.localID) == nil)
        #expect(try await !alice.client.deleteFailed(localID: record.localID), "only failed messages can be deleted")
        await alice.shutdown()
    }

    @Test func invalidInputIsRefusedBeforeAnythingIsStored() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        await #expect(throws: EngineError.invalidRecipient("Bob!")) { try await alice.client.send("hi", to: "Bob!") }
        await #expect(throws: EngineError.emptyMessage) { try await alice.client.send("", to: "bob") }
        await #expect(throws: EngineError.nulCharacter) { try await alice.client.send("a\u{0}b", to: "bob") }
        #expect(try alice.store.allMessages().isEmpty)
        await alice.shutdown()
    }

    /// The limit is what fits after padding: a 40 KiB text was accepted here and then always
    /// refused by the relay (padded to 64 KiB, plus the envelope), so it failed after "queued".
    /// The longest that fits goes as a message; one byte more goes as a file and arrives whole.
    @Test func theLongestTextTheEngineTakesIsAMessageAndOneByteMoreGoesAsAFile() async throws {
        #expect(ParlaClient.maxPlaintextBytes == 32_767)
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", on: relay)
        let (alice, bob) = (engines[0], engines[1])
        let oneMore = String(repeating: "é", count: 16_384)
        let asFile = try await alice.client.send(oneMore, to: "bob")
        #expect(asFile.attachment?.longText == true && asFile.text == oneMore)
        // The longest one goes in the first (prekey) message, whose envelope is the largest.
        let longest = String(repeating: "é", count: 16_383) + "x"
        let sent = try await alice.client.send(longest, to: "bob")
        alice.start()
        bob.start()
        try await eventually("delivered") { try alice.store.message(id: sent.id)?.status == .delivered }
        #expect(try bob.store.message(inChat: "alice", id: sent.id)?.text == longest)
        #expect(try bob.store.message(inChat: "alice", id: sent.id)?.attachment == nil, "a message, not a file")
        try await eventually("the longer one arrived whole") { try bob.store.message(inChat: "alice", id: asFile.id)?.text == oneMore }
        await alice.shutdown()
        await bob.shutdown()
    }

    @Test func historyIsPagedAndSearchable() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try TestProfiles.engine(for: try await TestProfiles.register("alice", url: relay.url))
        for i in 0..<30 { try await alice.client.send(i == 7 ? "the pizza è pronta 🍕" : "message \(i)", to: "bob") }
        let latest = try alice.store.history(chat: "bob", limit: 10)
        #expect(latest.map(\.text) == (20..<30).map { "message \($0)" })
        let older = try alice.store.history(chat: "bob", limit: 10, before: latest.first!.localID)
        #expect(older.map(\.text) == (10..<20).map { "message \($0)" })
        #expect(try alice.store.search("pizza").map(\.text) == ["the pizza è pronta 🍕"])
        #expect(try alice.store.search("pronta pizza").count == 1)
        #expect(try alice.store.search("\"quoted").isEmpty)
        #expect(try alice.store.search("  ").isEmpty)
        await alice.shutdown()
    }

    @Test func aDuplicateDeliveryIsStoredAndShownOnce() throws {
        let home = makeTemporaryDirectory(prefix: "parla-store")
        let store = try ClientStore(path: home + "/parla.sqlite")
        let item = ClientStore.Incoming(id: "m1", from: "alice", text: "once", sentAt: Date())
        #expect(try store.storeIncoming([item], me: "bob").count == 1)
        #expect(try store.storeIncoming([item, item], me: "bob").isEmpty)
        #expect(try store.allMessages().count == 1)
        #expect(try store.chats().first?.unread == 1)
    }

    @Test func aChangedRelayIdentityIsRefused() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let profile = try await TestProfiles.register("alice", url: relay.url)
        let other = try await TestRelay.start()
        defer { Task { await other.stop() } }
        let alice = try TestProfiles.engine(for: profile, server: other.url)
        alice.start()
        try await eventually("refused") {
            await alice.log.events.contains { if case .notice(let text) = $0 { return text.contains("refusing to log in") } else { return false } }
        }
        await alice.shutdown()
    }
}
