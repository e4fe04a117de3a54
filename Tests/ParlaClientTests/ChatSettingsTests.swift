import Foundation
@testable import ParlaClient
import ParlaProtocol
import ParlaRelayTesting
import Testing

/// What the user sets up around their chats survives restarts, and the relay is asked
/// about a name before a chat with it opens.
@Suite struct ChatSettingsTests {
    @Test func pinnedChatsComeFirstMutedOnesAreMarkedClosedOnesReturnOnNews() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let aliceProfile = try await TestProfiles.register("alice", url: relay.url)
        for name in ["bob", "carol", "dave"] { _ = try await TestProfiles.register(name, url: relay.url) }
        let alice = try TestProfiles.engine(for: aliceProfile)
        for name in ["bob", "carol", "dave"] {
            _ = try await alice.client.send("hi \(name)", to: name)
            try await Task.sleep(for: .milliseconds(5)) // activity is kept in milliseconds
        }
        let store = alice.store
        #expect(try store.chats().map(\.name) == ["dave", "carol", "bob"], "newest first")
        try store.setPinned("bob", true)
        try store.setMuted("carol", true)
        var chats = try store.chats()
        #expect(chats.map(\.name) == ["bob", "dave", "carol"], "pinned first")
        #expect(chats.first { $0.name == "bob" }?.pinned == true && chats.first { $0.name == "carol" }?.muted == true)
        try store.closeChat("dave")
        #expect(try store.chats().map(\.name) == ["bob", "carol"], "closed: out of the list")
        #expect(try store.history(chat: "dave", limit: 10).count == 1, "history kept")
        try await Task.sleep(for: .milliseconds(5))
        _ = try await alice.client.send("back again", to: "dave")
        #expect(try store.chats().contains { $0.name == "dave" }, "news brings it back")
        // Everything is in the profile: a new store on the same file sees it.
        let reopened = try ClientStore(path: aliceProfile.databasePath)
        chats = try reopened.chats()
        #expect(chats.first?.name == "bob" && chats.first { $0.name == "carol" }?.muted == true)
        try store.setPinned("bob", false)
        try store.setMuted("carol", false)
        #expect(try store.chats().allSatisfy { !$0.pinned && !$0.muted })
    }

    @Test func draftsAndInputHistoryAreKept() throws {
        let store = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-drafts") + "/parla.sqlite")
        try store.saveDraft(chat: "bob", text: "half a thought 👋")
        try store.saveDraft(chat: "#team", text: "for the team")
        try store.saveDraft(chat: "#team", text: "for the team, edited")
        #expect(try store.drafts() == ["bob": "half a thought 👋", "#team": "for the team, edited"])
        try store.saveDraft(chat: "bob", text: "")
        #expect(try store.drafts() == ["#team": "for the team, edited"], "an empty draft is none")
        for n in 1...(ClientStore.inputHistoryLimit + 20) { try store.appendInputHistory("line \(n)") }
        let history = try store.inputHistory()
        #expect(history.count == ClientStore.inputHistoryLimit, "older lines are dropped")
        #expect(history.first == "line 21" && history.last == "line \(ClientStore.inputHistoryLimit + 20)", "oldest first")
    }

    @Test func searchMatchesEveryWordAsAPrefix() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let aliceProfile = try await TestProfiles.register("alice", url: relay.url)
        _ = try await TestProfiles.register("bob", url: relay.url)
        let alice = try TestProfiles.engine(for: aliceProfile)
        _ = try await alice.client.send("the deployment is on Friday", to: "bob")
        _ = try await alice.client.send("deploy? no, lunch", to: "bob")
        #expect(try alice.store.search("deplo").count == 2)
        #expect(try alice.store.search("deplo fri").map(\.text) == ["the deployment is on Friday"], "every word must match")
        #expect(try alice.store.search("ployment").isEmpty, "prefixes, not any substring")
        #expect(try alice.store.search("\"quoted").isEmpty, "a quote in the query is not an FTS5 syntax error")
    }

    @Test func lookingUpANameAsksTheRelayWithoutTakingAPrekey() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let aliceProfile = try await TestProfiles.register("alice", url: relay.url)
        _ = try await TestProfiles.register("bob", url: relay.url)
        _ = try await TestProfiles.register("carol", url: relay.url)
        let alice = try TestProfiles.engine(for: aliceProfile)
        #expect(await alice.client.lookUpUser("bob") == .unreachable, "not connected: nobody can say")
        alice.start()
        try await eventually("online") { await alice.client.connectionState == .online }
        #expect(await alice.client.lookUpUser("bob") == .exists)
        #expect(await alice.client.lookUpUser("nobody") == .unknown)
        // `/new bob` and the first message to him at once: the lookup's answer (no prekeys)
        // must not be taken for the bundle the message is sealed with.
        async let looked = alice.client.lookUpUser("carol")
        try await Task.sleep(for: .milliseconds(2)) // the lookup's request goes first
        _ = try await alice.client.send("first words", to: "carol")
        #expect(await looked == .exists)
        try await eventually("sent, not refused for want of keys") {
            try alice.store.history(chat: "carol", limit: 5).first?.status == .sent
        }
        await alice.shutdown()
    }

    @Test func groupNoticesNameTheNewAdminCorrectly() {
        let event = GroupStatement(group: "team", version: 3, action: .leave, actor: "bob", subjects: [], title: "Team",
                                   members: [.init(name: "alice", key: Data()), .init(name: "carol", key: Data())], admins: ["alice"])
        #expect(ClientStore.describe(event, me: "alice") == "bob left; you are now an admin")
        #expect(ClientStore.describe(event, me: "carol") == "bob left; alice is now an admin")
    }
}
