import Foundation
import GRDB
import ParlaCrypto
import ParlaProtocol
import ParlaRelayTesting
import Testing

/// "Acked = never lost" when the disk fails under the relay: a batch whose COMMIT fails is
/// answered with an error, and the sender's resend of the same id is stored this time.
@Suite struct FailedCommitTests {
    /// Makes every COMMIT of a transaction that stores a message fail while `fault_on` has a
    /// row: a deferred foreign key, checked only at COMMIT (on any disk; GRDB then rolls back).
    static func installFault(in path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE fault_parent (id INTEGER PRIMARY KEY);
                CREATE TABLE fault_child (parent INTEGER REFERENCES fault_parent(id) DEFERRABLE INITIALLY DEFERRED);
                CREATE TABLE fault_on (x INTEGER);
                CREATE TRIGGER fault AFTER INSERT ON accepted_log WHEN EXISTS (SELECT 1 FROM fault_on)
                BEGIN INSERT INTO fault_child (parent) VALUES (42); END;
                INSERT INTO fault_on VALUES (1);
                """)
        }
    }

    static func clearFault(in path: String) throws {
        try DatabaseQueue(path: path).write { try $0.execute(sql: "DELETE FROM fault_on") }
    }

    @Test func aResendAfterAFailedCommitIsStoredAndDelivered() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        try Self.installFault(in: relay.databasePath)
        a.send(id: "m1", to: "bob", text: "must not be lost")
        var answer = try await a.next()
        while case .queueEmpty = answer { answer = try await a.next() }
        guard case .error(let error) = answer else {
            Issue.record("expected an error for the failed commit, got \(answer.encoded())")
            return
        }
        #expect(error.code == .storageUnavailable && error.ref == "m1")
        try Self.clearFault(in: relay.databasePath)
        // The client sends it again, as its outbox does: the relay must store it, not call it a duplicate.
        a.send(id: "m1", to: "bob", text: "must not be lost")
        #expect(try await a.next() == .ack(id: "m1"))
        // Before the fix the resend was acknowledged as a duplicate and nothing was stored.
        let b = try await bob.connect()
        let delivered = try await b.next()
        guard case .message(let message) = delivered else {
            Issue.record("bob did not get the message: \(delivered.encoded())")
            return
        }
        #expect(message.id == "m1")
        await a.close()
        await b.close()
    }
}

/// The same through a real write failure: the relay process may not grow its files (as on a
/// full disk), so its COMMIT fails writing the log; then the space is back.
@Suite(.serialized) struct FullDiskTests {
    static func fileSizeLimit(_ pid: Int32, _ limit: String) async throws {
        let result = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/prlimit"), ["--pid", String(pid), "--fsize=\(limit)"])
        #expect(result.status == 0, "prlimit: \(result.err)")
    }

    @Test func aMessageWhoseCommitFailedIsStoredWhenSentAgain() async throws {
        let data = makeTemporaryDirectory(prefix: "parla-full")
        let relay = try await RelayProcess.start(dataDirectory: data)
        defer { relay.terminateSoon() }
        let aliceKeys = IdentityKeys(), bobKeys = IdentityKeys()
        try await RelayTestClient.online(relay.url, name: "alice", keys: aliceKeys, register: true).close()
        try await RelayTestClient.online(relay.url, name: "bob", keys: bobKeys, register: true).close()
        let a = try await RelayTestClient.online(relay.url, name: "alice", keys: aliceKeys)
        #expect(try await a.next() == .queueEmpty)
        // Nothing may be written past the first 16 KiB of any file (Linux refuses every write
        // there, wherever the write-ahead log has got to): the 60 KB message cannot be committed.
        try await Self.fileSizeLimit(relay.process.processIdentifier, "16384:unlimited")
        let body = String(repeating: "x", count: 60_000)
        a.send(id: "big", to: "bob", text: body)
        let answer = try await a.next(timeout: .seconds(15))
        guard case .error(let error) = answer else {
            Issue.record("expected an error for the failed write, got \(answer.encoded().prefix(200))")
            return
        }
        #expect(error.code == .storageUnavailable && error.ref == "big")
        #expect(error.message.contains("the relay's disk refused the write"), "said as such: \(error.message)")
        // Space again; the client's outbox sends the same id again.
        try await Self.fileSizeLimit(relay.process.processIdentifier, "unlimited:unlimited")
        a.send(id: "big", to: "bob", text: body)
        #expect(try await a.next(timeout: .seconds(15)) == .ack(id: "big"))
        let b = try await RelayTestClient.online(relay.url, name: "bob", keys: bobKeys)
        let delivered = try await b.next(timeout: .seconds(15))
        guard case .message(let message) = delivered else {
            Issue.record("the acknowledged message is not in bob's mailbox: \(delivered.encoded().prefix(200))")
            return
        }
        #expect(message.id == "big" && message.body.count == 60_000)
        await a.close()
        await b.close()
    }
}
