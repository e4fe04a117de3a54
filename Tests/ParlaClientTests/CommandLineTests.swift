import Foundation
import ParlaClient
import ParlaRelayTesting
import Testing

/// The real `parla` executable against a real relay.
@Suite(.serialized) struct CommandLineTests {
    func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    @Test func initErrorsAreClearAndLeaveNoProfile() async throws {
        let relay = try await TestRelay.start { $0.registration = .closed }
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-cli") + "/profile"
        var result = try await runParla(["init", "Bad Name", "--server", relay.url, "--home", home])
        #expect(result.status != 0)
        #expect(result.err.contains("not a valid name"))
        result = try await runParla(["init", "alice", "--server", relay.url, "--home", home])
        #expect(result.status != 0)
        #expect(result.err.contains("needs an invite code"))
        result = try await runParla(["init", "alice", "--server", "ws://127.0.0.1:1/v1", "--home", home])
        #expect(result.status != 0)
        #expect(result.err.contains("cannot reach the relay: connection refused at 127.0.0.1:1: is parla-relay running there"), "\(result.err)")
        #expect(result.err.split(separator: "\n").count == 1, "one line: \(result.err)")
        result = try await runParla(["init", "alice", "--server", "127.0.0.1:7878", "--home", home])
        #expect(result.err.contains("write ws://127.0.0.1:7878"), "\(result.err)")
        #expect(!FileManager.default.fileExists(atPath: home), "no half-made profile")

        let invite = try await relay.relay.store.createInvite(now: 0)
        // As people type the address: without the path.
        result = try await runParla(["init", "alice", "--server", relay.url.replacingOccurrences(of: "/v1", with: ""), "--home", home, "--invite", invite])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("registered alice on \(relay.url)"), "\(result.out)")
        let attributes = try FileManager.default.attributesOfItem(atPath: home)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        let keyAttributes = try FileManager.default.attributesOfItem(atPath: home + "/identity.json")
        #expect((keyAttributes[.posixPermissions] as? Int) == 0o600)
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: home + "/parla.sqlite" + suffix) {
            #expect((try FileManager.default.attributesOfItem(atPath: home + "/parla.sqlite" + suffix)[.posixPermissions] as? Int) == 0o600,
                    "the history is the owner's only: parla.sqlite\(suffix)")
        }
        // Made readable by hand: every command says so, with the fix.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: home)
        let warned = try await runParla(["chats", "--home", home])
        #expect(warned.err.contains("parla: warning: \(home) is readable by others (mode 755): chmod 700 \(home)"), "\(warned.err)")
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home)

        let otherHome = makeTemporaryDirectory(prefix: "parla-cli") + "/profile"
        let invite2 = try await relay.relay.store.createInvite(now: 0)
        result = try await runParla(["init", "alice", "--server", relay.url, "--home", otherHome, "--invite", invite2])
        #expect(result.status != 0)
        #expect(result.err.contains("already taken"))
        result = try await runParla(["init", "alice", "--server", relay.url, "--home", home])
        #expect(result.err.contains("a profile already exists"))
        result = try await runParla(["chats", "--home", otherHome])
        #expect(result.status != 0)
        #expect(result.err.contains("parla init"))
    }

    @Test func queuedWhileTheRelayIsDownThenDeliveredInOrder() async throws {
        let port = RelayProcess.freePort()
        let data = makeTemporaryDirectory(prefix: "parla-cli-relay")
        var relay = try await RelayProcess.start(dataDirectory: data, port: port)
        let aliceHome = makeTemporaryDirectory(prefix: "parla-cli-alice")
        let bobHome = makeTemporaryDirectory(prefix: "parla-cli-bob")
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", aliceHome + "/p"]).status == 0)
        #expect(try await runParla(["init", "bob", "--server", relay.url, "--home", bobHome + "/p"]).status == 0)
        await relay.terminate()

        var ids: [String] = []
        for i in 0..<5 {
            let result = try await runParla(["send", "bob", "offline \(i)", "--timeout", "0.3", "--home", aliceHome + "/p"])
            #expect(result.status == 0, "\(result.err)")
            #expect(result.out.hasPrefix("queued "), "\(result.out)")
            ids.append(String(result.out.dropFirst("queued ".count)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var status = try await runParla(["status", "--json", "--timeout", "0.5", "--home", aliceHome + "/p"])
        var object = try jsonLines(status.out).first ?? [:]
        #expect(object["outbox"] as? Int == 5)
        #expect((object["connection"] as? String)?.hasPrefix("unreachable") == true)

        relay = try await RelayProcess.start(dataDirectory: data, port: port)
        defer { relay.terminateSoon() }
        // Any kind of run delivers the queue; a read-only one here.
        _ = try await runParla(["chats", "--home", aliceHome + "/p"])
        status = try await runParla(["status", "--json", "--home", aliceHome + "/p"])
        object = try jsonLines(status.out).first ?? [:]
        #expect(object["outbox"] as? Int == 0)
        #expect(object["connection"] as? String == "online")

        let sync = try await runParla(["sync", "--json", "--home", bobHome + "/p"])
        #expect(sync.status == 0, "\(sync.err)")
        let received = try jsonLines(sync.out)
        #expect(received.map { $0["text"] as? String } == (0..<5).map { "offline \($0)" })
        #expect(received.map { $0["id"] as? String } == ids)
        for line in received {
            #expect(line["chat"] as? String == "alice")
            #expect(line["from"] as? String == "alice")
            #expect(line["to"] as? String == "bob")
            #expect(line["status"] as? String == "received")
            #expect((line["sentAt"] as? String).flatMap { ISO8601DateFormatter.fractional.date(from: $0) } != nil)
        }

        _ = try await runParla(["sync", "--home", aliceHome + "/p"])
        let history = try jsonLines(try await runParla(["history", "bob", "--json", "--home", aliceHome + "/p"]).out)
        #expect(history.map { $0["status"] as? String } == Array(repeating: "delivered", count: 5))
        let chats = try jsonLines(try await runParla(["chats", "--json", "--home", bobHome + "/p"]).out)
        #expect(chats.first?["chat"] as? String == "alice")
        #expect(chats.first?["unread"] as? Int == 5)
        let found = try jsonLines(try await runParla(["search", "offline 3", "--json", "--home", bobHome + "/p"]).out)
        #expect(found.contains { $0["text"] as? String == "offline 3" })
    }

    /// Scripts sending from one profile at once: each command waits for the profile, and
    /// every message reaches bob and decrypts. Next to the open UI a command is refused.
    @Test func parallelCommandsOnOneProfileTakeTurnsAndTheUIKeepsItsProfile() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let root = makeTemporaryDirectory(prefix: "parla-cli-parallel")
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", root + "/a"]).status == 0)
        #expect(try await runParla(["init", "bob", "--server", relay.url, "--home", root + "/b"]).status == 0)
        #expect(try await runParla(["send", "bob", "first", "--home", root + "/a"]).status == 0)
        let results = try await withThrowingTaskGroup(of: (Int32, String).self) { group in
            for n in 1...6 {
                group.addTask {
                    let result = try await runParla(["send", "bob", "parallel \(n)", "--home", root + "/a"])
                    return (result.status, result.err)
                }
            }
            var all: [(Int32, String)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.allSatisfy { $0.0 == 0 }, "\(results)")
        let synced = try await runParla(["sync", "--json", "--home", root + "/b"])
        let texts = try jsonLines(synced.out).compactMap { $0["text"] as? String }
        #expect(Set(texts) == Set(["first"] + (1...6).map { "parallel \($0)" }), "\(texts)")
        #expect(!synced.out.contains("could not decrypt"))

        // A peer's escape sequences never reach the terminal through `parla sync`.
        #expect(try await runParla(["send", "alice", "title\u{1B}]0;pwned\u{07} clip\u{1B}]52;c;eA==\u{07}", "--home", root + "/b"]).status == 0)
        let printed = try await runParla(["sync", "--home", root + "/a"]).out
        #expect(printed.contains("title\u{FFFD}]0;pwned\u{FFFD} clip"), "\(printed.debugDescription)")
        #expect(!printed.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })

        let ui = try ProfileLock(directory: root + "/a", role: .ui)
        let refused = try await runParla(["send", "bob", "while the UI is open", "--home", root + "/a"])
        #expect(refused.status == 1)
        #expect(refused.err.contains("the Parla UI (process \(getpid())) has the profile"), "\(refused.err)")
        withExtendedLifetime(ui) {}
    }

    /// A sync killed after storing messages but before printing them: the next sync prints
    /// them, and no sync prints a message twice.
    @Test func syncPrintsWhatAnEarlierRunStoredButNeverPrinted() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let root = makeTemporaryDirectory(prefix: "parla-cli-cursor")
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", root + "/a"]).status == 0)
        #expect(try await runParla(["init", "bob", "--server", relay.url, "--home", root + "/b"]).status == 0)
        for n in 1...2 { #expect(try await runParla(["send", "bob", "note \(n)", "--home", root + "/a"]).status == 0) }
        // Stored (and confirmed to the relay) by a run that printed nothing, as a killed sync leaves them.
        let engine = try TestProfiles.engine(for: try Profile.load(from: root + "/b"))
        engine.start()
        try await eventually("stored") { try engine.store.allMessages().count == 2 }
        await engine.shutdown()
        func texts() async throws -> [String] {
            try jsonLines(try await runParla(["sync", "--json", "--home", root + "/b"]).out).compactMap { $0["text"] as? String }
        }
        #expect(try await texts() == ["note 1", "note 2"])
        #expect(try await texts().isEmpty, "printed once")
        #expect(try await runParla(["send", "bob", "note 3", "--home", root + "/a"]).status == 0)
        #expect(try await texts() == ["note 3"])
    }

    /// A refusal that retrying cannot cure (here: the relay's identity is not the one the
    /// profile registered with) is named by status, send and sync, not "unreachable".
    @Test func aPermanentLoginRefusalIsShownWithItsCause() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-cli-refused") + "/p"
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", home]).status == 0)
        let path = home + "/identity.json"
        var identity = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        identity["relayIdentity"] = "relay-0000000000000000"
        try JSONSerialization.data(withJSONObject: identity).write(to: URL(fileURLWithPath: path))
        let cause = "the relay presented identity"
        #expect(try await runParla(["status", "--home", home, "--timeout", "3"]).out.contains("connection: unreachable: \(cause)"))
        let send = try await runParla(["send", "alice", "hi", "--home", home, "--timeout", "3"])
        #expect(send.out.hasPrefix("queued ") && send.err.contains("not sent yet: \(cause)"), "\(send.err)")
        #expect(try await runParla(["sync", "--home", home, "--timeout", "3"]).err.contains(cause))
    }

    /// No room to write the message: said as such, and nothing half-written stays behind.
    @Test func aFullDiskIsSaidAsSuch() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-cli-full") + "/p"
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", home]).status == 0)
        // No file may grow past 4 KiB (as on a full disk); SIGXFSZ ignored, as it is for a real full disk.
        let binary = try RelayProcess.executable(named: "parla").path
        let full = try await runChildProcess(URL(fileURLWithPath: "/bin/sh"),
                                             ["-c", "ulimit -f 8; trap '' XFSZ; exec \(binary) send alice 'no room' --home \(home)"])
        #expect(full.status == 1)
        #expect(full.err.contains("this computer's disk refused the write") && full.err.contains("nothing was saved"), "\(full.err)")
        #expect(try await runParla(["history", "alice", "--home", home]).out.contains("no room") == false, "not half there")
        #expect(try await runParla(["send", "alice", "room again", "--home", home]).status == 0)
    }

    @Test func sendPrintsSentAndFailsClearlyForAnUnknownUser() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-cli-send") + "/p"
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", home]).status == 0)
        let ok = try await runParla(["send", "alice", "note to self", "--home", home])
        #expect(ok.status == 0)
        #expect(ok.out.hasPrefix("sent "))
        let bad = try await runParla(["send", "nobody", "hello", "--home", home])
        #expect(bad.status == 1)
        #expect(bad.err.contains("no user named 'nobody'"))
        let invalid = try await runParla(["send", "No Body", "hello", "--home", home])
        #expect(invalid.status == 1)
        #expect(invalid.err.contains("not a valid user name"))
        let history = try jsonLines(try await runParla(["history", "nobody", "--json", "--home", home]).out)
        #expect(history.first?["status"] as? String == "failed")
        #expect((history.first?["reason"] as? String)?.contains("no user named") == true)
    }

    /// `parla group …` end to end: create, send to '#team', history and sync show the group
    /// chat, info as text and JSON, a non-admin refused with the relay's reason, leave.
    @Test func groupCommands() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        var homes: [String: String] = [:]
        for name in ["alice", "bob", "carol"] {
            let home = makeTemporaryDirectory(prefix: "parla-cli-group-\(name)") + "/p"
            #expect(try await runParla(["init", name, "--server", relay.url, "--home", home]).status == 0)
            homes[name] = home
        }
        let created = try await runParla(["group", "create", "#team", "bob", "carol", "--title", "The team", "--home", homes["alice"]!])
        #expect(created.status == 0 && created.out == "created #team\n", "\(created)")
        let sent = try await runParla(["send", "#team", "hello team", "--home", homes["alice"]!])
        #expect(sent.status == 0 && sent.out.hasPrefix("sent "), "\(sent)")

        let synced = try jsonLines(try await runParla(["sync", "--json", "--home", homes["bob"]!]).out)
        #expect(synced.contains { $0["chat"] as? String == "#team" && $0["text"] as? String == "hello team" && $0["from"] as? String == "alice" }, "\(synced)")
        let history = try jsonLines(try await runParla(["history", "#team", "--json", "--home", homes["bob"]!]).out)
        #expect(history.last?["text"] as? String == "hello team")
        let chats = try jsonLines(try await runParla(["chats", "--json", "--home", homes["bob"]!]).out)
        #expect(chats.contains { $0["chat"] as? String == "#team" })

        let info = try await runParla(["group", "info", "team", "--json", "--home", homes["bob"]!])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(info.out.utf8)) as? [String: Any], "\(info)")
        #expect(object["chat"] as? String == "#team" && object["title"] as? String == "The team")
        #expect(object["members"] as? [String] == ["alice", "bob", "carol"] && object["admins"] as? [String] == ["alice"])
        let text = try await runParla(["group", "info", "team", "--home", homes["bob"]!])
        #expect(text.out.contains("members (3): alice (admin), bob, carol"), "\(text)")

        let refused = try await runParla(["group", "add", "team", "carol", "--home", homes["bob"]!])
        #expect(refused.status == 1 && refused.err.contains("only admins of #team can add members"), "\(refused)")
        let badName = try await runParla(["group", "create", "No Good", "--home", homes["alice"]!])
        #expect(badName.status != 0 && badName.err.contains("not a valid group name"))

        let left = try await runParla(["group", "leave", "team", "--home", homes["carol"]!])
        #expect(left.status == 0 && left.out == "left #team\n", "\(left)")
        let after = try await runParla(["group", "info", "team", "--home", homes["alice"]!])
        #expect(after.out.contains("members (2): alice (admin), bob"), "\(after)")
        let notMember = try await runParla(["send", "#team", "still here?", "--home", homes["carol"]!])
        #expect(notMember.status == 1 && notMember.err.contains("no longer a member of #team"), "\(notMember)")
    }

    /// `parla sync` is killed with SIGKILL while flushing a full outbox; the next run
    /// finishes the job and bob gets every message exactly once, in order.
    @Test func clientKilledWithAFullOutbox() async throws {
        let port = RelayProcess.freePort()
        let data = makeTemporaryDirectory(prefix: "parla-cli-kill")
        var relay = try await RelayProcess.start(dataDirectory: data, port: port)
        let alice = makeTemporaryDirectory(prefix: "parla-kill-alice") + "/p"
        let bob = makeTemporaryDirectory(prefix: "parla-kill-bob") + "/p"
        #expect(try await runParla(["init", "alice", "--server", relay.url, "--home", alice]).status == 0)
        #expect(try await runParla(["init", "bob", "--server", relay.url, "--home", bob]).status == 0)
        await relay.terminate()

        // Fill the outbox directly through the engine's store API, as a long offline session would.
        let profile = try Profile.load(from: alice)
        let engine = try ParlaClient(profile: profile, transport: UnreachableTransport(), logger: TestProfiles.quietLogger)
        let texts = (0..<400).map { "queued \($0)" }
        for text in texts { try await engine.send(text, to: "bob") }
        #expect(await engine.outboxCount() == 400)

        relay = try await RelayProcess.start(dataDirectory: data, port: port)
        defer { relay.terminateSoon() }
        let process = Process()
        process.executableURL = try RelayProcess.executable(named: "parla")
        process.arguments = ["sync", "--wait", "30", "--home", alice]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await eventually("some messages reached the relay") {
            let stats = try JSONSerialization.jsonObject(with: Data(try await runRelayStats(data).utf8)) as? [String: Any]
            return (stats?["pendingMessages"] as? Int ?? 0) > 0
        }
        kill(process.processIdentifier, SIGKILL)
        await waitForExit(process)
        let remaining = try ClientStore(path: profile.databasePath).outboxCount()
        #expect(remaining > 0, "killed while its outbox still held messages")

        #expect(try await runParla(["sync", "--home", alice]).status == 0)
        #expect(try ClientStore(path: profile.databasePath).outboxCount() == 0)
        let received = try jsonLines(try await runParla(["sync", "--json", "--home", bob]).out)
        #expect(received.map { $0["text"] as? String } == texts)
    }
}

extension ISO8601DateFormatter {
    static var fractional: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
