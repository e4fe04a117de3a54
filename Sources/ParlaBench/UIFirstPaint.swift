import Foundation
import Logging
import ParlaClient
import ParlaRelay
import ParlaRelayTesting
import ParlaTUI

/// How long the UI takes to show a conversation when the history is large: the
/// same loading and rendering code the UI runs, timed in-process, and the real
/// `parla` binary started in a tmux pane, timed from launch to the first frame
/// with messages on it (the UI logs that moment on the machine-wide monotonic clock).
public struct UIFirstPaint: Sendable {
    public struct Options: Sendable {
        public var messages = 100_000
        public var chats = 50
        public var runs = 5
        public var width = 120
        public var height = 40
        /// The `parla` executable for the terminal runs; nil skips them.
        public var parlaBinary: String?

        public init() {}
    }

    public struct Result: Codable, Sendable {
        public var scenario = "ui"
        public var messages: Int
        public var chats: Int
        public var width: Int
        public var height: Int
        public var seedPerSecond: Double
        /// Open the store, load chats and the newest page, reduce, render to a buffer.
        public var inProcess: Summary
        /// Real binary in tmux: launch to the first frame with messages drawn.
        public var terminal: Summary?
        /// The part of `terminal` after the UI thread started (after the width probe and ncurses set-up).
        public var terminalAfterUIStart: Summary?
    }

    public enum Failure: Error, CustomStringConvertible {
        case noFirstPaint(String)
        public var description: String {
            switch self {
            case .noFirstPaint(let detail): "the UI never drew a conversation: \(detail)"
            }
        }
    }

    let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    public func run(progress: (String) -> Void) async throws -> Result {
        let base = makeTemporaryDirectory(prefix: "parla-bench-ui")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let relay = try await EmbeddedRelay.start(dataDirectory: base + "/relay", logger: logger)
        let transport = WebSocketTransport(logger: logger)
        let profile = try await ParlaClient.register(name: "bench", server: relay.url, invite: nil, directory: base + "/profile", transport: transport)

        progress("seeding \(options.messages) messages in \(options.chats) chats …")
        let seedStart = Monotonic.nanoseconds()
        try seed(profile)
        let seedSeconds = Double(Monotonic.nanoseconds() - seedStart) / 1e9

        var inProcess: [Double] = []
        for run in 1...options.runs {
            inProcess.append(try await measureInProcess(profile))
            progress("in-process run \(run): \(Summary.format(inProcess.last!)) ms")
        }
        var terminal: [Double] = []
        var afterUIStart: [Double] = []
        if let binary = options.parlaBinary {
            for run in 1...options.runs {
                let (total, sinceUIStart) = try await measureInTerminal(binary: binary, profile: profile, base: base, run: run)
                terminal.append(total)
                afterUIStart.append(sinceUIStart)
                progress("terminal run \(run): \(Summary.format(total)) ms (\(Summary.format(sinceUIStart)) ms after the UI thread started)")
            }
        }
        await relay.stop()
        return Result(messages: options.messages, chats: options.chats, width: options.width, height: options.height,
                      seedPerSecond: Double(options.messages) / seedSeconds, inProcess: Summary(milliseconds: inProcess),
                      terminal: terminal.isEmpty ? nil : Summary(milliseconds: terminal),
                      terminalAfterUIStart: afterUIStart.isEmpty ? nil : Summary(milliseconds: afterUIStart))
    }

    /// Varied text (accents, CJK, emoji) of chat-like lengths, spread over a year.
    private func seed(_ profile: Profile) throws {
        let store = try ClientStore(path: profile.databasePath)
        let samples = ["ciao, come va?", "ok 👍", "see you at 18:00 at the usual place", "漢字とかなの混ざった文", "perché no? è già tardi",
                       "a longer message that wraps over more than one line of the conversation pane, as real ones often do", "🇮🇹❤️👨‍👩‍👧"]
        let start = Date().addingTimeInterval(-365 * 86_400)
        let step = 365 * 86_400 / Double(max(1, options.messages))
        var batch: [ClientStore.Incoming] = []
        for n in 0..<options.messages {
            batch.append(ClientStore.Incoming(id: "seed-\(n)", from: "contact-\(n % options.chats)",
                                              text: "\(samples[n % samples.count]) #\(n)", sentAt: start.addingTimeInterval(Double(n) * step)))
            if batch.count == 5_000 || n == options.messages - 1 {
                _ = try store.storeIncoming(batch, me: profile.name)
                batch.removeAll(keepingCapacity: true)
            }
        }
    }

    private func measureInProcess(_ profile: Profile) async throws -> Double {
        let start = Monotonic.nanoseconds()
        let client = try ParlaClient(profile: profile, transport: WebSocketTransport(logger: logger), logger: logger)
        var state = AppState(me: profile.name)
        let effects = Reducer.reduce(&state, .chatsLoaded(try await client.chats()))
        for case .loadConversation(let chat) in effects {
            let page = try await client.history(chat: chat, limit: TUIApp.pageSize)
            _ = Reducer.reduce(&state, .conversationLoaded(chat: chat, messages: page))
        }
        let screen = Renderer().render(state, width: options.width, height: options.height, theme: .default)
        let elapsed = Double(Monotonic.nanoseconds() - start) / 1e6
        guard !state.conversation.isEmpty, screen.text.contains("#") else { throw Failure.noFirstPaint("in-process render was empty") }
        return elapsed
    }

    private func measureInTerminal(binary: String, profile: Profile, base: String, run: Int) async throws -> (total: Double, afterUIStart: Double) {
        let logPath = (profile.directory as NSString).appendingPathComponent("parla.log")
        let before = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").components(separatedBy: "first paint").count
        let socket = "parla-bench-\(UUID().uuidString.prefix(8))"
        let command = "env -u NO_COLOR TERM=xterm-256color LANG=C.UTF-8 XDG_CONFIG_HOME=\(base)/config \(binary) --home \(profile.directory)"
        let start = Monotonic.nanoseconds()
        let status = await spawnAndWait(["tmux", "-L", socket, "new-session", "-d", "-s", "bench", "-x", String(options.width), "-y", String(options.height), command])
        defer { Task { _ = await spawnAndWait(["tmux", "-L", socket, "kill-server"]) } }
        guard status == 0 else { throw Failure.noFirstPaint("tmux new-session failed (is tmux installed?)") }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            let parts = log.components(separatedBy: "first paint")
            if parts.count > before, let line = log.split(separator: "\n").last(where: { $0.contains("first paint") }),
               let range = line.range(of: #"monotonicNs=(\d+)"#, options: .regularExpression),
               let painted = UInt64(line[range].dropFirst("monotonicNs=".count)),
               let sinceRange = line.range(of: #"sinceUIStartMs=(\d+)"#, options: .regularExpression),
               let sinceUIStart = Double(line[sinceRange].dropFirst("sinceUIStartMs=".count)) {
                _ = await spawnAndWait(["tmux", "-L", socket, "kill-server"])
                // The next UI may only start once this one has let go of the profile.
                let released = try await waitUntil(timeout: .seconds(10)) { (try? ProfileLock(directory: profile.directory)) != nil }
                guard released else { throw Failure.noFirstPaint("the UI of run \(run) did not exit after its terminal closed") }
                return (Double(painted - start) / 1e6, sinceUIStart)
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw Failure.noFirstPaint("no 'first paint' line in \(logPath) within 30 s (run \(run))")
    }
}
