import Foundation
import GRDB
@testable import ParlaClient
import ParlaCrypto
import ParlaRelayTesting
import Synchronization
import Testing

/// Two programs on one profile (the UI and a `parla send`, two scripts): a ratchet step
/// is never taken twice, and commands wait for each other or say why they cannot run.
@Suite struct ConcurrentProfileTests {
    /// Alice's sessions in a database that two "processes" (two stores) open at once.
    @Test func twoProcessesSealingAtOnceNeverReuseAStep() async throws {
        let handshake = try EndToEndTests.Handshake()
        let (first, ratchet) = try handshake.firstMessage("hello")
        #expect(try handshake.receive("m0", first).map(\.text) == ["hello"])
        let path = makeTemporaryDirectory(prefix: "parla-two") + "/parla.sqlite"
        let setup = try ClientStore(path: path)
        try await setup.pool.write { db in
            try ClientStore.saveSessions(db, "bob", .init(current: .init(ratchet: ratchet, preKey: nil, remoteEphemeral: nil)))
            for n in 1...40 {
                try db.execute(sql: "INSERT INTO outbox (kind, id, recipient, payload) VALUES ('message', ?, 'bob', ?)",
                               arguments: ["m\(n)", Data("message \(n)".utf8)])
            }
        }
        let one = try ClientStore(path: path), two = try ClientStore(path: path)
        // Real threads, as two processes would be (Swift tasks here may run one after another).
        let results = Mutex<[(String, Data)]>([])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            let n = index + 1
            let store = n % 2 == 0 ? one : two
            do {
                guard let envelope = try store.sealAndCommit(Data("message \(n)".utf8), for: "bob", startingWith: nil,
                                                             into: .direct(outboxID: "m\(n)")) else { throw ClientStore.SessionGone() }
                results.withLock { $0.append(("m\(n)", envelope)) }
            } catch {
                failures.withLock { $0.append("m\(n): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let envelopes = results.withLock { $0 }
        let headers = try envelopes.map { try Envelope(decoding: $0.1).header }
        #expect(Set(headers.map(\.counter)).count == 40, "forty messages, forty different steps")
        let received = try handshake.bobStore.receiveEncrypted(envelopes.map { .init(id: $0.0, from: "alice", body: $0.1, sentAt: Date()) },
                                                               me: "bob", identity: handshake.bob).added
        #expect(received.count == 40)
        #expect(received.allSatisfy { $0.text.hasPrefix("message ") }, "\(received.filter { !$0.text.hasPrefix("message ") }.map(\.text))")
        // Sealing again (a resend after a lost ack) returns the stored envelope: no second step.
        let again = try one.sealAndCommit(Data("message 1".utf8), for: "bob", startingWith: nil, into: .direct(outboxID: "m1"))
        #expect(again == envelopes.first { $0.0 == "m1" }?.1)
    }

    @Test func commandsWaitForEachOtherAndAreRefusedNextToTheUI() async throws {
        let directory = makeTemporaryDirectory(prefix: "parla-lock")
        var command: ProfileLock? = try ProfileLock(directory: directory, role: .command)
        // A second command waits for the first; when it is done, it gets the profile.
        let waiter = Task { try ProfileLock(directory: directory, role: .command, waitingUpTo: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(200))
        command = nil
        let second = try await waiter.value
        #expect(throws: ProfileLock.Failure.busy(pid: getpid(), directory: directory)) {
            try ProfileLock(directory: directory, role: .command, waitingUpTo: .milliseconds(100))
        }
        withExtendedLifetime(second) {}
        _ = command
    }
}
