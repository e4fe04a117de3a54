import Foundation
import GRDB
@testable import ParlaClient
import ParlaRelayTesting
import Synchronization
import Testing

/// The client's own disk refusing writes (full): acknowledged messages are not sent again in
/// a loop, what arrived is written again on a backoff and confirmed without a reconnect, and
/// the user is told the disk is full.
@Suite(.serialized) struct LocalStorageFaultTests {
    /// Counts `send` frames leaving the engine, over the real WebSocket transport.
    final class CountingTransport: RelayTransport {
        let inner = WebSocketTransport(pingInterval: .seconds(2), connectTimeout: .seconds(3), logger: TestProfiles.quietLogger)
        let sends = Atomic<Int>(0)

        func connect(to url: String) async throws -> any RelayLink {
            Link(inner: try await inner.connect(to: url), sends: self)
        }

        struct Link: RelayLink {
            let inner: any RelayLink
            let sends: CountingTransport
            func receive() async -> String? { await inner.receive() }
            func receiveAvailable() async -> [String] { await inner.receiveAvailable() }
            func send(_ text: String) async {
                if text.contains(#""type":"send""#) { sends.sends.add(1, ordering: .relaxed) }
                await inner.send(text)
            }
            func close() async { await inner.close() }
            func closeCode() async -> Int? { await inner.closeCode() }
        }
    }

    /// Makes the chosen writes fail as on a full disk (SQLite's own words) while `fault_on` has a row.
    static func failWrites(in path: String, trigger: String) throws {
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS fault_on (x INTEGER);
                CREATE TRIGGER fault \(trigger) WHEN EXISTS (SELECT 1 FROM fault_on)
                BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
                INSERT INTO fault_on VALUES (1);
                """)
        }
    }

    static func clearFault(in path: String) throws {
        try DatabaseQueue(path: path).write { try $0.execute(sql: "DELETE FROM fault_on") }
    }

    @Test func acksThatCannotBeWrittenAreNotAnsweredBySendingAgainAndAgain() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let profile = try await TestProfiles.register("alice", url: relay.url)
        _ = try await TestProfiles.register("bob", url: relay.url)
        let transport = CountingTransport()
        let alice = RunningClient(client: try ParlaClient(profile: profile, transport: transport, policy: TestProfiles.fastRetry, logger: TestProfiles.quietLogger))
        alice.start()
        try await eventually("online") { await alice.client.connectionState == .online }
        // Marking a message sent deletes it from the outbox: that write fails.
        try Self.failWrites(in: profile.databasePath, trigger: "BEFORE DELETE ON outbox")
        let message = try await alice.client.send("hello", to: "bob")
        try await Task.sleep(for: .seconds(2))
        let sendsWhileFull = transport.sends.load(ordering: .relaxed)
        // Before the fix the engine sent it again on every ack it could not record: hundreds a second.
        #expect(sendsWhileFull <= 2, "sent \(sendsWhileFull) times in 2 s while its ack could not be written")
        #expect(await alice.log.statuses(of: message.id).allSatisfy { $0 == .queued })
        #expect(await alice.log.events.contains { if case .notice(let text) = $0 { text.contains("this computer's disk is full") } else { false } })
        try Self.clearFault(in: profile.databasePath)
        try await eventually("marked sent once the disk takes writes") {
            let statuses = await alice.log.statuses(of: message.id)
            return statuses.contains(.sent) || statuses.contains(.delivered)
        }
        #expect(transport.sends.load(ordering: .relaxed) <= 2, "the relay had it: not sent again")
        #expect(try alice.store.outboxCount() == 0)
        await alice.shutdown()
    }

    @Test func messagesThatCouldNotBeStoredAreStoredAndConfirmedWithoutAReconnect() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", on: relay)
        let (alice, bob) = (engines[0], engines[1])
        alice.start()
        bob.start()
        try await eventually("both online") {
            let a = await alice.client.connectionState, b = await bob.client.connectionState
            return a == .online && b == .online
        }
        let bobDatabase = bob.client.profile.databasePath
        try Self.failWrites(in: bobDatabase, trigger: "BEFORE INSERT ON messages")
        let first = try await alice.client.send("one", to: "bob")
        let second = try await alice.client.send("two", to: "bob")
        try await Task.sleep(for: .seconds(1))
        #expect(await bob.log.added().isEmpty)
        #expect(!(await alice.log.statuses(of: first.id).contains(.delivered)), "not confirmed while not stored")
        try Self.clearFault(in: bobDatabase)
        try await eventually("stored once the disk takes writes") { await bob.log.added().map(\.text) == ["one", "two"] }
        try await eventually("confirmed: alice sees ✓✓") {
            let one = await alice.log.statuses(of: first.id), two = await alice.log.statuses(of: second.id)
            return one.contains(.delivered) && two.contains(.delivered)
        }
        #expect(await bob.log.connectionStates().filter { $0 == .online }.count == 1, "no reconnect was needed")
        await alice.shutdown()
        await bob.shutdown()
    }
}
