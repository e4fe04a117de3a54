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

    /// A relay, alice's profile (the UI's) and bob's running engine; `others` are registered too.
    struct AliceAndBob {
        let relay: TestRelay
        let alice: Profile
        let bob: ParlaClient
        let bobTask: Task<Void, Never>

        func stop() {
            bobTask.cancel()
            Task { await relay.stop() }
        }
    }

    func aliceAndBob(others: [String] = []) async throws -> AliceAndBob {
        let relay = try await TestRelay.start()
        let alice = try await register("alice", url: relay.url)
        let bobProfile = try await register("bob", url: relay.url)
        for name in others { _ = try await register(name, url: relay.url) }
        let (bob, bobTask) = try engine(bobProfile)
        return AliceAndBob(relay: relay, alice: alice, bob: bob, bobTask: bobTask)
    }

    /// The UI for `home`, with a configuration folder of the test's own (never the user's ~/.config).
    func parlaCommand(home: String, config: String? = nil, extra: String = "", term: String = "xterm-256color") throws -> String {
        let binary = try RelayProcess.executable(named: "parla").path
        let configHome = config ?? makeTemporaryDirectory(prefix: "parla-ui-config")
        return "env -u NO_COLOR TERM=\(term) LANG=C.UTF-8 XDG_CONFIG_HOME=\(configHome) \(binary) --home \(home) \(extra); echo PARLA-EXITED; sleep 30"
    }

    @Test func twoUsersChatTicksPasteResizeAndQuit() async throws {
        let world = try await aliceAndBob()
        defer { world.stop() }
        let (alice, bob) = (world.alice, world.bob)

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

        _ = try await bob.send("benissimo, grazie 🇮🇹 👨‍👩‍👧 ❤️ fine", to: "alice")
        try await tmux.waitFor("bob's reply, flag and ZWJ family whole") { $0.contains("benissimo, grazie 🇮🇹 👨‍👩‍👧 ❤️ fine") }
        // Every row is exactly as wide as the pane: no cluster shifted a border (tmux draws ❤️ 1 wide).
        let tmuxWidths = DisplayWidth(variationSelectorEmoji: 1)
        for line in try await tmux.screen().split(separator: "\n") {
            #expect(tmuxWidths.width(of: String(line).replacingOccurrences(of: " +$", with: "", options: .regularExpression)) <= 120, "\(line)")
            if line.hasSuffix("│") { #expect(tmuxWidths.width(of: String(line)) == 120, "\(line)") }
        }

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

    /// tmux 3.3a draws ❤️ one column wide, ZWJ families and flags two, 👍🏽 as two emoji (four): the probe must see that.
    @Test func theWidthProbeMeasuresTheRealTerminal() async throws {
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        let binary = try RelayProcess.executable(named: "parla").path
        try await tmux.start("env LANG=C.UTF-8 \(binary) doctor; sleep 30", width: 100, height: 20)
        try await tmux.waitFor("doctor output") { $0.contains("widths:") }
        let screen = try await tmux.screen()
        #expect(screen.contains("widths: variation-selector emoji 1, ZWJ sequence 2, flag 2, skin-tone emoji 4"), "\(screen)")
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

    /// A group made from the UI: the list shows it with its size, a message shows each
    /// sender in their own palette colour, and the tick turns ✓✓ only when both got it.
    @Test func aGroupFromTheUIWithSenderColoursAndAggregatedTicks() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await register("alice", url: relay.url)
        let (bob, bobTask) = try engine(try await register("bob", url: relay.url))
        defer { bobTask.cancel() }
        let carolProfile = try await register("carol", url: relay.url)

        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory), width: 110, height: 30)
        try await tmux.waitFor("the UI") { $0.contains("Chats") && $0.contains("online") }
        try await tmux.type("/group create team bob carol")
        try await tmux.keys("Enter")
        try await tmux.waitFor("the group in the list") { $0.contains("created #team with bob, carol") && $0.contains("#team (3)") }
        try await tmux.type("/new #team")
        try await tmux.keys("Enter")
        try await tmux.waitFor("the group chat") { $0.contains("#team “team” · 3 members") }
        try await tmux.type("hello team")
        try await tmux.keys("Enter")
        try await eventually("bob got it") { try bob.store.history(chat: "#team", limit: 10).contains { $0.text == "hello team" } }
        try await tmux.waitFor("one tick while carol is offline") { $0.contains("hello team") && $0.contains("✓") && !$0.contains("✓✓") }
        let (carol, carolTask) = try engine(carolProfile)
        defer { carolTask.cancel() }
        try await tmux.waitFor("✓✓ once both have it") { $0.contains("hello team") && $0.contains("✓✓") }

        _ = try await bob.send("hi from bob", to: "#team")
        _ = try await carol.send("hi from carol @alice", to: "#team")
        try await tmux.waitFor("both replies") { $0.contains("hi from bob") && $0.contains("hi from carol @alice") }
        let coloured = try await tmux.screen(colours: true)
        func colour(before text: String) -> String? {
            guard let line = coloured.split(separator: "\n").first(where: { $0.contains(text) }) else { return nil }
            // The SGR in force where the sender's name starts.
            let sender = text.contains("bob") ? "bob" : "carol"
            guard let name = line.range(of: sender) else { return nil }
            let before = line[..<name.lowerBound]
            guard let sgr = before.range(of: "\u{1B}[", options: .backwards) else { return nil }
            return String(before[sgr.upperBound...].prefix { $0 != "m" })
        }
        let bobColour = colour(before: "hi from bob"), carolColour = colour(before: "hi from carol")
        #expect(bobColour != nil && bobColour != carolColour, "each sender has a colour of their own: \(String(describing: bobColour)) vs \(String(describing: carolColour))")
        try await tmux.type("/info")
        try await tmux.keys("Enter")
        try await tmux.waitFor("per-member detail") { $0.contains("delivered: bob, carol") || $0.contains("read: ") }
        // Ctrl-Up selects messages in the real terminal: carol's reply is not ours, "hello team" is.
        try await tmux.keys("C-Up")
        try await tmux.type("/info")
        try await tmux.keys("Enter")
        try await tmux.waitFor("the selection is someone else's") { $0.contains("one of your own group messages") }
        try await tmux.keys("C-Up")
        try await tmux.keys("C-Up")
        try await tmux.type("/info")
        try await tmux.keys("Enter")
        try await tmux.waitFor("detail for the selected message") { ($0.contains("delivered: bob, carol") || $0.contains("read: ")) && !$0.contains("one of your own") }
        try await tmux.keys("C-q")
    }

    @Test func configThemesSearchAndTheTitle() async throws {
        let world = try await aliceAndBob(others: ["carol"]) // /new checks the name with the relay
        defer { world.stop() }
        let (alice, bob) = (world.alice, world.bob)
        _ = try await bob.send("the wifi password is gelato42", to: "alice")
        for n in 1...5 { _ = try await bob.send("filler \(n)", to: "alice") }
        try await eventually("bob's messages went out") { await bob.outboxCount() == 0 }

        let config = makeTemporaryDirectory(prefix: "parla-ui-config")
        try FileManager.default.createDirectory(atPath: config + "/parla", withIntermediateDirectories: true)
        try "theme = \"light\"\n[keys]\nquit = \"ctrl-x\"\n".write(toFile: config + "/parla/config.toml", atomically: true, encoding: .utf8)
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory, config: config), width: 100, height: 30)
        try await tmux.waitFor("the UI in the light theme", colours: true) { $0.contains("filler 5") && $0.contains("48;5;253") }

        // /theme with Tab completion switches at once.
        try await tmux.type("/theme hi")
        try await tmux.keys("Tab")
        try await tmux.waitFor("completed") { $0.contains("/theme high-contrast") }
        try await tmux.keys("Enter")
        try await tmux.waitFor("high-contrast colours", colours: true) { $0.contains("theme high-contrast") && !$0.contains("48;5;253") }

        // /search lists results; Enter jumps to the message, highlighted.
        try await tmux.type("/search gelato42")
        try await tmux.keys("Enter")
        try await tmux.waitFor("results list") { $0.contains("1 found for 'gelato42'") }
        try await tmux.keys("Enter")
        try await tmux.waitFor("jumped") { !$0.contains("found for") && $0.contains("the wifi password is gelato42") && $0.contains("newer below") }

        // A message in another chat: the title counts it.
        try await tmux.type("/new carol")
        try await tmux.keys("Enter")
        // Only once carol's chat is open is bob's next message unread (a slow UI would still show bob's).
        try await tmux.waitFor("carol's chat open") { $0.contains("┌─ carol") }
        _ = try await bob.send("are you there?", to: "alice")
        try await eventually("title shows the unread count") {
            try await tmux.run(["display-message", "-p", "-t", tmux.session, "#{pane_title}"]).contains("(1) Parla")
        }

        // The rebound quit key.
        try await tmux.keys("C-q")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await !tmux.screen().contains("PARLA-EXITED"), "Ctrl-Q was rebound away")
        try await tmux.keys("C-x")
        try await tmux.waitFor("exit") { $0.contains("PARLA-EXITED") }
    }

    /// A crash (here a real SIGSEGV) still gives the terminal back: main screen, echo and line mode on.
    @Test func aCrashRestoresTheTerminal() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await register("alice", url: relay.url)
        let binary = try RelayProcess.executable(named: "parla").path
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start("env TERM=xterm-256color LANG=C.UTF-8 \(binary) --home \(alice.directory); echo CODE=$?; stty -a; sleep 30", width: 100, height: 30)
        try await tmux.waitFor("the UI") { $0.contains("● online") }
        let pid = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "^\(binary) --home \(alice.directory)"]).out
        _ = try await runChildProcess(URL(fileURLWithPath: "/bin/kill"), ["-SEGV", pid.trimmingCharacters(in: .whitespacesAndNewlines)])
        try await tmux.waitFor("terminal restored after the crash") { screen in
            screen.contains("CODE=139") && !screen.contains("┌─ Chats") && screen.contains(" icanon") && screen.contains(" echo ")
        }
    }

    @Test func aBrokenConfigIsNamedAndTheUIStillStarts() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await register("alice", url: relay.url)
        let config = makeTemporaryDirectory(prefix: "parla-ui-config")
        try FileManager.default.createDirectory(atPath: config + "/parla/themes", withIntermediateDirectories: true)
        try "theme = \"mine\"\n".write(toFile: config + "/parla/config.toml", atomically: true, encoding: .utf8)
        try "[styles]\nborder = { fg = \"purplish\" }\n".write(toFile: config + "/parla/themes/mine.toml", atomically: true, encoding: .utf8)
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory, config: config), width: 120, height: 20)
        try await tmux.waitFor("the error, with file, line and key") {
            $0.contains("mine.toml:2: key 'styles.border.fg': unknown colour 'purplish'") && $0.contains("Chats")
        }
        // The default theme is in use: its border colour.
        #expect(try await tmux.screen(colours: true).contains("38;5;240m"))
        try await tmux.keys("C-q")
    }

    @Test func firstRunAsksForNameAndRelayThenOpensTheUI() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let home = makeTemporaryDirectory(prefix: "parla-ui-first") + "/profile"
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: home), width: 100, height: 30)
        try await tmux.waitFor("welcome") { $0.contains("Welcome to Parla") && $0.contains("Relay URL") }
        // As people type it: no /v1.
        try await tmux.type(relay.url.replacingOccurrences(of: "/v1", with: ""))
        try await tmux.keys("Enter")
        try await tmux.type("X!")
        try await tmux.keys("Enter")
        try await tmux.waitFor("bad name explained") { $0.contains("'X!' is not a valid name") }
        try await tmux.type("dora")
        try await tmux.keys("Enter")
        try await tmux.waitFor("the UI, online") { $0.contains("Chats") && $0.contains("● online") }
        #expect(Profile.exists(at: home))
        #expect(try Profile.load(from: home).server == relay.url, "the profile keeps the full address")
        try await tmux.keys("C-q")
    }

    /// vt100 and the Linux console have no alternate screen: quitting must not leave the UI behind.
    @Test(arguments: ["vt100", "linux"]) func quittingClearsATerminalWithoutAnAlternateScreen(term: String) async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await register("alice", url: relay.url)
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory, term: term), width: 80, height: 24)
        try await tmux.waitFor("the UI") { $0.contains("Chats") && $0.contains("F1 help") }
        try await tmux.keys("C-q")
        try await tmux.waitFor("a clean screen after quitting") { $0.contains("PARLA-EXITED") && !$0.contains("Chats") && !$0.contains("F1 help") }
    }

    /// What a new user does first, in a plain 80x24 xterm with 8 colours: move the cursor,
    /// page through history (keys and the wheel), press keys Parla does not use, leave a
    /// draft, quit and come back, read a safety number that is wider than the screen.
    @Test func everydayKeysDraftsAndAnEightColourTerminal() async throws {
        let world = try await aliceAndBob()
        defer { world.stop() }
        let (alice, bob) = (world.alice, world.bob)
        for n in 1...40 { _ = try await bob.send("filler \(n)", to: "alice") }
        _ = try await bob.send("ok 👍🏽 fine", to: "alice")
        try await eventually("bob's messages went out") { await bob.outboxCount() == 0 }

        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(try parlaCommand(home: alice.directory, term: "xterm"), width: 80, height: 24)
        try await tmux.waitFor("the UI with bob's messages") { $0.contains("ok 👍🏽 fine") && $0.contains("online") }
        // TERM=xterm has 8 colours: borders are white, the status bar reverse video (not black on black).
        let coloured = try await tmux.screen(colours: true)
        #expect(coloured.contains("\u{1B}[37m┌"), "the border is drawn in a visible colour")
        #expect(coloured.split(separator: "\n").last?.contains("\u{1B}[7m") == true, "the status bar is reverse video")
        // A skin-tone emoji is four columns in tmux 3.3a (the probe measured it): no border moved.
        let widths = DisplayWidth(variationSelectorEmoji: 1, skinTone: 4)
        for line in try await tmux.screen().split(separator: "\n") where line.hasSuffix("│") {
            #expect(widths.width(of: String(line)) == 80, "\(line)")
        }

        // The cursor follows Ctrl-A and the arrows although the text does not change.
        func cursorX() async throws -> Int {
            Int(try await tmux.run(["display-message", "-p", "-t", tmux.session, "#{cursor_x}"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        try await tmux.type("hello world")
        try await eventually("cursor after the text") { try await cursorX() == 13 }
        try await tmux.keys("C-a")
        try await eventually("cursor at the start") { try await cursorX() == 2 }
        try await tmux.keys("Right", "Right")
        try await eventually("cursor two to the right") { try await cursorX() == 4 }
        try await tmux.keys("End")
        try await eventually("cursor at the end") { try await cursorX() == 13 }

        // Keys Parla does not use type nothing.
        try await tmux.keys("C-u")
        try await tmux.keys("F5", "F12", "IC", "S-F3")
        try await Task.sleep(for: .milliseconds(300))
        try await tmux.waitFor("an empty input") { $0.contains("> message bob") }

        // Page Up goes back in time, Page Down forward; the wheel scrolls and never recalls input.
        try await tmux.keys("PPage")
        try await tmux.waitFor("older messages") { $0.contains("filler 20") && !$0.contains("ok 👍🏽 fine") && $0.contains("↑") }
        let topLine = try await tmux.screen().split(separator: "\n")[1]
        // tmux hands a typed sequence over byte by byte; on a loaded machine ncurses may give up
        // on a report that trickles in (a real terminal writes it in one piece), so a turn that
        // did nothing is sent again, three times at most.
        var scrolled = false
        for _ in 0..<3 where !scrolled {
            try await tmux.type("\u{1B}[<65;40;10M")
            let deadline = ContinuousClock.now + .seconds(3)
            while !scrolled, ContinuousClock.now < deadline {
                scrolled = try await !tmux.screen().contains(topLine)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(scrolled, "the wheel scrolled down")
        #expect(try await tmux.screen().contains("> message bob"), "the wheel did not reach the input")
        try await tmux.keys("NPage", "NPage", "NPage")
        try await tmux.waitFor("back at the newest") { $0.contains("ok 👍🏽 fine") && !$0.contains("↑") }

        // A safety number is wider than 80 columns: it is wrapped, not cut.
        try await tmux.type("/verify bob")
        try await tmux.keys("Enter")
        try await tmux.waitFor("the whole safety number") { $0.contains("then /verify bob yes") }

        // A draft survives quitting.
        try await tmux.type("unsent thoughts")
        try await tmux.keys("C-q")
        try await tmux.waitFor("exit") { $0.contains("PARLA-EXITED") }
        try await tmux.kill()
        let again = Tmux()
        defer { Task { await again.kill() } }
        try await again.start(try parlaCommand(home: alice.directory, term: "xterm"), width: 80, height: 24)
        try await again.waitFor("the draft is back") { $0.contains("> unsent thoughts") }
        try await again.keys("C-q")
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
