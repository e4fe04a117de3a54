import Foundation
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Every kind of bad input gets its error code, and a bystander keeps being served.
@Suite struct BadInputTests {
    static let cases: [(String, ErrorCode)] = [
        ("this is not json", .badJSON),
        ("[]", .badFrame),
        (#"{"no":"type"}"#, .badFrame),
        (#"{"type":"teleport"}"#, .unknownType),
        (#"{"type":"send","id":"m1","to":5,"body":""}"#, .badFrame),
        (#"{"type":"send","id":"m1","to":"bob"}"#, .badFrame),
        (#"{"type":"send","id":"m1","to":"bob","body":"***"}"#, .badBase64),
        (#"{"type":"send","id":"bad id!","to":"bob","body":"aGk="}"#, .invalidID),
        (#"{"type":"send","id":"m1","to":"nobody","body":"aGk="}"#, .unknownRecipient),
        (#"{"type":"send","id":"m1","to":"NOT VALID","body":"aGk="}"#, .unknownRecipient),
        (#"{"type":"confirm","ids":[1,2]}"#, .badFrame),
        (#"{"type":"login","version":1,"name":"alice","timestamp":1,"signature":"aGk="}"#, .alreadyAuthenticated),
    ]

    @Test func eachBadFrameGetsItsCodeAndTheRelayKeepsServing() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        let b = try await bob.connectIdle()
        for (input, code) in Self.cases {
            a.sendRaw(input)
            let error = try await a.expectError(code)
            #expect(!error.message.isEmpty)
            // The bystander is unaffected.
            let id = "probe-\(UUID().uuidString.prefix(8))"
            b.send(id: id, to: "alice", text: "still there?")
            try await b.expectAck(id)
            #expect(try await a.receiveMessages(count: 1).map(\.id) == [id])
            a.send(.confirm(.init(ids: [id])))
            _ = try await b.nextReceipt()
        }
        await a.close()
        await b.close()
    }

    @Test func oversizedFramesAndBodies() async throws {
        let relay = try await TestRelay.start { $0.maxFrameBytes = 100_000 }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        _ = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        a.sendRaw(#"{"type":"typing","to":"bob","pad":""# + String(repeating: "x", count: 150_000) + #""}"#)
        _ = try await a.expectError(.frameTooLarge)
        a.send(.send(.init(id: "huge", to: "bob", body: Data(repeating: 1, count: ProtocolLimits.maxBodyBytes + 1))))
        let error = try await a.expectError(.messageTooLarge)
        #expect(error.ref == "huge")
        a.send(.send(.init(id: "max", to: "bob", body: Data(repeating: 1, count: ProtocolLimits.maxBodyBytes))))
        try await a.expectAck("max")
        await a.close()
    }

    @Test func framesBeyondTheHardLimitCloseWithMessageTooBig() async throws {
        let relay = try await TestRelay.start { $0.hardFrameLimit = 200_000 }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let a = try await alice.connectIdle()
        a.sendRaw(String(repeating: "x", count: 300_000))
        #expect(try await a.closeCode() == 1009)
    }

    @Test func sendingBeforeLoginIsRefused() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try await RelayTestClient.connect(relay.url)
        client.send(id: "m1", to: "bob", text: "sneaky")
        let error = try await client.expectError(.notAuthenticated)
        #expect(error.ref == "m1")
        await client.close()
    }

    @Test func binaryFramesAreRefused() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let a = try await alice.connectIdle()
        a.sendBinary([1, 2, 3])
        _ = try await a.expectError(.binaryNotSupported)
        await a.close()
    }

    @Test func aFloodIsRateLimited() async throws {
        let relay = try await TestRelay.start {
            $0.rateLimitPerSecond = 5
            $0.rateLimitBurst = 10
        }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        _ = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        for i in 0..<30 { a.send(id: "f\(i)", to: "bob", text: "flood") }
        var acks = 0
        var limited: [String] = []
        for _ in 0..<30 {
            switch try await a.next() {
            case .ack: acks += 1
            case .error(let error) where error.code == .rateLimited: limited.append(error.ref ?? "")
            case let other: Issue.record("unexpected \(other.encoded())")
            }
        }
        #expect(acks >= 9 && acks <= 12)
        #expect(limited.count == 30 - acks)
        #expect(limited.allSatisfy { $0.hasPrefix("f") })
        await a.close()
    }

    @Test func aFullMailboxTellsTheSender() async throws {
        let relay = try await TestRelay.start { $0.quota = MailboxQuota(maxMessages: 3, maxBytes: 1_000_000, maxMessagesPerSender: 3) }
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        for i in 0..<4 { a.send(id: "q\(i)", to: "bob", text: "x") }
        for i in 0..<3 { try await a.expectAck("q\(i)") }
        let error = try await a.expectError(.mailboxFull)
        #expect(error.ref == "q3")
        #expect(error.message.contains("bob"))

        // Once bob downloads, there is room again.
        let b = try await bob.connect()
        let ids = try await b.receiveMessages().map(\.id)
        b.send(.confirm(.init(ids: ids)))
        _ = try await a.nextReceipt()
        a.send(id: "q3", to: "bob", text: "x")
        try await a.expectAck("q3")
        await a.close()
        await b.close()
    }

    @Test func anIdUsedByAnotherSenderForTheSameRecipientConflicts() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let carol = try await TestUser.register("carol", on: relay)
        _ = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        let c = try await carol.connectIdle()
        a.send(id: "dup", to: "bob", text: "from alice")
        try await a.expectAck("dup")
        c.send(id: "dup", to: "bob", text: "from carol")
        _ = try await c.expectError(.idConflict)
        await a.close()
        await c.close()
    }
}
