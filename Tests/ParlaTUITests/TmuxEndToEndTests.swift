import Foundation
import Logging
@testable import ParlaClient
import ParlaRelayTesting
import ParlaTUI
import Testing

/// A tmux server of its own, driving the real `parla` binary like a person would.
struct Tmux {
    let socket = "parla-test-\(UUID().uuidString.prefix(8))"
    let session = "ui"

    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        try await runChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["tmux", "-L", socket] + arguments).out
    }

    func start(_ command: String, width: Int, height: Int) async throws {
        // The tmux server stays behind holding its output, so only its exit is awaited.
        let status = await spawnAndWait(["tmux", "-L", socket, "new-session", "-d", "-s", session, "-x", String(width), "-y", String(height), command])
        #expect(status == 0, "tmux new-session failed")
    }

    func keys(_ keys: String...) async throws {
        try await run(["send-keys", "-t", session] + keys)
    }

    func type(_ text: String) async throws {
        try await run(["send-keys", "-t", session, "-l", text])
    }

    func screen(colours: Bool = false) async throws -> String {
        try await run(["capture-pane", "-p", "-t", session] + (colours ? ["-e"] : []))
    }

    func waitFor(_ what: String, timeout: Duration = .seconds(15), colours: Bool = false, sourceLocation: SourceLocation = #_sourceLocation, _ check: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await screen(colours: colours)
            if check(last) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let printable = last.replacingOccurrences(of: "\u{1B}", with: "^[")
        Issue.record("timed out waiting for \(what); screen:\n\(printable)", sourceLocation: sourceLocation)
    }

    func kill() async {
        _ = try? await run(["kill-server"])
    }
}

@Suite(.serialized) struct TmuxEndToEndTests {
    static let quiet = TestLogger.make()

    func register(_ name: String, url: String) async throws -> Profile {
        let home = makeTemporaryDirectory(prefix: "parla-ui-\(name)")
        return try await ParlaClient.register(name: name, server: url, invite: nil, directory: home, transport: WebSocketTransport(logger: Self.quiet))
    }

    func engine(_ profile: Profile) throws -> (ParlaClient, Task<Void, Never>) {
        let client = try ParlaClient(profile: profile, transport: WebSocketTransport(logger: Self.quiet),
                                     policy: ReconnectPolicy(base: .milliseconds(100), cap: .seconds(1)), logger: Self.quiet)
        return (client, Task { await client.run() })
    }

    func parlaCommand(home: String) throws -> String {
        let binary = try RelayProcess.executable(named: "parla").path
        return "env -u NO_COLOR TERM=xterm-256color LANG=C.UTF-8 \(binary) --home \(home); echo PARLA-EXITED; sleep 30"
    }

    @Test func twoUsersChatTicksPasteResizeAndQuit() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await register("alice", url: relay.url)
        let bobProfile = try await register("bob", url: relay.url)
        let (bob, bobTask) = try engine(bobProfile)
        defer { bobTask.cancel() }

        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory), width: 120, height: 40)
        try await tmux.waitFor("the UI") { $0.contains("Chats") && $0.contains("online") }

        try await tmux.type("/new bob")
        try await tmux.keys("Enter")
        try await tmux.type("ciao bob! 漢字 👋")
        try await tmux.keys("Enter")
        try await eventually("bob got it") { try bob.store.allMessages().contains { $0.text == "ciao bob! 漢字 👋" } }
        try await tmux.waitFor("delivered ticks") { $0.contains("ciao bob! 漢字 👋") && $0.contains("✓✓") }
        try await bob.markRead(chat: "alice")
        // Read ticks use the theme's "read" colour (xterm 81).
        try await tmux.waitFor("read colour", colours: true) { $0.contains("38;5;81m ✓✓") }

        _ = try await bob.send("benissimo, grazie", to: "alice")
        try await tmux.waitFor("bob's reply") { $0.contains("benissimo, grazie") }

        // A multi-line bracketed paste becomes one message.
        try await tmux.run(["set-buffer", "prima riga\nseconda riga"])
        try await tmux.run(["paste-buffer", "-p", "-t", tmux.session])
        try await tmux.keys("Enter")
        try await eventually("pasted block arrived as one message") {
            try bob.store.allMessages().contains { $0.text == "prima riga\nseconda riga" }
        }
        #expect(try bob.store.allMessages().filter { $0.text.hasPrefix("prima") || $0.text.hasPrefix("seconda") }.count == 1)

        // Resize from 120x40 to 60x20: everything reflows inside the new width.
        try await tmux.run(["resize-window", "-t", tmux.session, "-x", "60", "-y", "20"])
        try await tmux.waitFor("reflow to 60 columns") { screen in
            let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
            return lines.first?.hasPrefix("┌") == true && lines.first?.hasSuffix("┐") == true && lines.count <= 21
                && lines.first.map { DisplayWidth(variationSelectorEmoji: 1).width(of: $0) } == 60
        }

        // Quitting gives the terminal back.
        try await tmux.keys("C-q")
        try await tmux.waitFor("exit") { $0.contains("PARLA-EXITED") && !$0.contains("┌") }
    }

    /// tmux 3.3a draws ❤️ one column wide, ZWJ families and flags two: the probe must see that.
    @Test func theWidthProbeMeasuresTheRealTerminal() async throws {
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        let binary = try RelayProcess.executable(named: "parla").path
        try await tmux.start("env LANG=C.UTF-8 \(binary) doctor; sleep 30", width: 100, height: 20)
        try await tmux.waitFor("doctor output") { $0.contains("widths:") }
        let screen = try await tmux.screen()
        #expect(screen.contains("widths: variation-selector emoji 1, ZWJ sequence 2, flag 2"), "\(screen)")
    }

    @Test func relayDownShowsTheCountdownAndQueuedMessagesGoOutLater() async throws {
        let port = RelayProcess.freePort()
        let data = makeTemporaryDirectory(prefix: "parla-ui-relay")
        var relay = try await RelayProcess.start(dataDirectory: data, port: port)
        let alice = try await register("alice", url: relay.url)
        let bobProfile = try await register("bob", url: relay.url)
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory), width: 100, height: 30)
        try await tmux.waitFor("online") { $0.contains("● online") }
        try await tmux.type("/new bob")
        try await tmux.keys("Enter")

        await relay.kill()
        try await tmux.waitFor("retry countdown") { $0.contains("retry in") }
        try await tmux.type("scritto offline")
        try await tmux.keys("Enter")
        try await tmux.waitFor("queued clock") { $0.contains("scritto offline") && $0.contains("◷") && $0.contains("1 queued") }

        relay = try await RelayProcess.start(dataDirectory: data, port: port)
        defer { relay.terminateSoon() }
        try await tmux.keys("C-r")
        try await tmux.waitFor("sent after reconnect", timeout: .seconds(30)) { $0.contains("● online") && $0.contains("0 queued") && !$0.contains("◷") }
        let (bob, bobTask) = try engine(bobProfile)
        defer { bobTask.cancel() }
        try await eventually("bob received it") { try bob.store.allMessages().contains { $0.text == "scritto offline" } }
        try await tmux.keys("C-q")
    }
}




enum TestLogger {
    static func make() -> Logger {
        var logger = Logger(label: "ui-test")
        logger.logLevel = .critical
        return logger
    }
}

/// Waits for `condition`, recording a failure that names `what` if it never holds.
func eventually(timeout: Duration = .seconds(15), _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool) async throws {
    if try await !waitUntil(timeout: timeout, condition) {
        Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    }
}
