import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import Testing

/// Disappearing messages (issue 22): a chat's timer is set on both sides by a message inside
/// the encryption; each side's messages leave its history when their time is up — a sent one
/// counted from when it was written, a received one from when it arrived.
@Suite(.serialized) struct DisappearingTests {
    /// Online, on injected clocks: nothing goes early, everything goes on time, and the words
    /// leave the search index with it.
    @Test func messagesDisappearWhenTheirTimeIsUpOnEachSide() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let aliceClock = ManualClock()
        let bobClock = ManualClock()
        func engine(_ name: String, _ clock: ManualClock) async throws -> RunningClient {
            let profile = try await TestProfiles.register(name, url: relay.url)
            return RunningClient(client: try ParlaClient(profile: profile, transport: WebSocketTransport(logger: TestProfiles.quietLogger), clock: clock,
                                                         policy: TestProfiles.fastRetry, logger: TestProfiles.quietLogger))
        }
        let alice = try await engine("alice", aliceClock)
        let bob = try await engine("bob", bobClock)
        alice.start()
        bob.start()
        _ = try await alice.client.send("before the timer", to: "bob")
        try await alice.client.setTimer(3600, forChat: "bob")
        try await eventually("bob's side has the timer") { try bob.store.timer(ofChat: "alice") == 3600 }
        #expect(try bob.store.history(chat: "alice", limit: 10).contains { $0.text.hasPrefix("alice set disappearing messages to 1 hour") })
        #expect(try alice.store.history(chat: "bob", limit: 10).contains { $0.text.hasPrefix("You set disappearing messages to 1 hour") })

        let secret = try await alice.client.send("the door code is 4711", to: "bob")
        let expires = try #require(secret.expiresAt)
        #expect(abs(expires.timeIntervalSince(aliceClock.now()) - 3600) < 0.002, "an hour from when it was written")
        try await eventually("bob has it") { try bob.store.message(inChat: "alice", id: secret.id) != nil }
        bobClock.advance(by: .seconds(1800))
        aliceClock.advance(by: .seconds(3599))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try alice.store.message(inChat: "bob", id: secret.id)?.deleted == nil, "not a second early")
        aliceClock.advance(by: .seconds(1))
        try await eventually("gone from alice's history") { try alice.store.message(inChat: "bob", id: secret.id)?.deleted == .me }
        #expect(try !alice.store.history(chat: "bob", limit: 10).contains { $0.id == secret.id })
        #expect(try alice.store.search("4711").isEmpty)
        #expect(try bob.store.message(inChat: "alice", id: secret.id)?.text == "the door code is 4711", "bob's hour started when it arrived")
        bobClock.advance(by: .seconds(1800))
        try await eventually("gone from bob's") { try bob.store.message(inChat: "alice", id: secret.id)?.deleted == .me }
        #expect(try bob.store.search("4711").isEmpty)
        #expect(try bob.store.history(chat: "alice", limit: 10).contains { $0.text == "before the timer" }, "what came before the timer stays")

        // Either side turns it off.
        try await bob.client.setTimer(nil, forChat: "alice")
        try await eventually("off on alice's side") { try alice.store.timer(ofChat: "bob") == nil }
        #expect(try alice.store.history(chat: "bob", limit: 10).contains { $0.text == "bob turned off disappearing messages" })
        #expect(try await alice.client.send("stays", to: "bob").expiresAt == nil)
        await #expect(throws: EngineError.self) { try await alice.client.setTimer(1, forChat: "bob") }
        await alice.shutdown()
        await bob.shutdown()
    }

    /// In a group, any member sets it for everyone; someone outside the group cannot.
    @Test func aGroupTimerReachesEveryMember() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "carol", on: relay)
        for client in engines { client.start() }
        let (alice, bob, carol) = (engines[0], engines[1], engines[2])
        for client in [bob, carol] { _ = try await client.client.send("hi", to: "alice") }
        try await eventually("online") { await alice.client.connectionState == .online }
        try await alice.client.createGroup("team", title: "Team", members: ["bob", "carol"])
        try await eventually("both are in") { try bob.store.group("team") != nil && carol.store.group("team") != nil }
        try await bob.client.setTimer(86_400, forChat: "#team")
        try await eventually("everyone has it") { try alice.store.timer(ofChat: "#team") == 86_400 && carol.store.timer(ofChat: "#team") == 86_400 }
        #expect(try carol.store.history(chat: "#team", limit: 20).contains { $0.text.hasPrefix("bob set disappearing messages to 1 day") })
        let note = try await alice.client.send("gone tomorrow", to: "#team")
        #expect(note.expiresAt != nil)
        try await eventually("carol's copy will disappear too") { try carol.store.message(inChat: "#team", id: note.id)?.expiresAt != nil }
        for client in engines { await client.shutdown() }
    }

    /// Through the real command line, with the other side offline when the timer is set.
    @Test func theTimerReachesAnOfflineContactAndTheCommandLineHonoursIt() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let root = makeTemporaryDirectory(prefix: "parla-timer")
        for name in ["alice", "bob"] { #expect(try await runParla(["init", name, "--server", relay.url, "--home", root + "/" + name]).status == 0) }
        let bad = try await runParla(["timer", "bob", "soon", "--home", root + "/alice"])
        #expect(bad.status != 0 && bad.err.contains("is not a timer"), "\(bad.err)")
        let set = try await runParla(["timer", "bob", "5s", "--home", root + "/alice"])
        #expect(set.status == 0 && set.out.contains("now disappear after 5 seconds"), "\(set.err)")
        #expect(try await runParla(["send", "bob", "burn after reading", "--home", root + "/alice"]).status == 0)
        #expect(try await runParla(["sync", "--home", root + "/bob"]).status == 0)
        let chats = try await runParla(["chats", "--json", "--home", root + "/bob"]).out
        #expect(chats.contains("\"timer\":5"), "\(chats)")
        let history = try await runParla(["history", "alice", "--json", "--home", root + "/bob"]).out
        #expect(history.contains("burn after reading") && history.contains("expiresAt"), "\(history)")
        try await Task.sleep(for: .seconds(5.5))
        let later = try await runParla(["history", "alice", "--home", root + "/bob"]).out
        #expect(!later.contains("burn after reading") && later.contains("alice set disappearing messages to 5 seconds"), "\(later)")
    }
}
