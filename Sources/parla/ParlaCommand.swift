import ArgumentParser
import Foundation
import Logging
import ParlaClient
import ParlaProtocol
import ParlaTUI
import Synchronization

@main
struct ParlaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parla",
        abstract: "Parla: instant messaging for the terminal.",
        subcommands: [Init.self, Send.self, Sync.self, Chats.self, History.self, Search.self, Status.self, Verify.self, Group.self, React.self, Edit.self, Delete.self, Timer.self, Save.self, Demo.self, Doctor.self])

    @OptionGroup var global: GlobalOptions
    @Option(help: "Colour theme: default, light, high-contrast, mono or one of yours in ~/.config/parla/themes (NO_COLOR selects mono).") var theme: String?

    /// With no subcommand, `parla` opens the full-screen UI.
    func run() async throws {
        try await reportingErrors {
            let noProfile = "no profile in \(global.directory): create one with 'parla init NAME --server URL', or try 'parla demo'"
            if !Profile.exists(at: global.directory) {
                guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else { throw CLIError(noProfile) }
                guard try await FirstRun.run(global: global) != nil else { throw CLIError(noProfile) }
            }
            let client = try global.openClient(forUI: true)
            try await UILauncher.run(client: client, themeName: theme, logger: global.makeLogger(profile: client.profile.directory))
        }
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Profile directory (default: $PARLA_HOME, else ~/.local/share/parla).") var home: String?
    @Option(help: "Relay URL, overriding the profile's (e.g. ws://127.0.0.1:7878/v1).") var server: String?

    var directory: String { Profile.resolveDirectory(home: home) }

    func loadProfile() throws -> Profile {
        do {
            return try Profile.load(from: directory)
        } catch {
            throw CLIError(error.description)
        }
    }

    func makeLogger(profile directory: String) -> Logger {
        let path = (directory as NSString).appendingPathComponent("parla.log")
        return Logger(label: "parla") { label in FileLogHandler(label: label, path: path) }
    }

    /// Opens the engine for this profile; callers run it with `EngineRun`. A command holds
    /// the profile until it exits (waiting up to 30 s for another command), so two programs
    /// never run engines on one identity; the UI takes its own lock instead (`forUI`).
    func openClient(forUI: Bool = false) throws -> ParlaClient {
        let profile = try loadProfile()
        if !forUI {
            for warning in profile.permissionWarnings {
                try? FileHandle.standardError.write(contentsOf: Data("parla: warning: \(warning)\n".utf8))
            }
        }
        if !forUI {
            do {
                try CommandLock.take(profile.directory)
            } catch {
                throw CLIError(error.description)
            }
        }
        let logger = makeLogger(profile: profile.directory)
        do {
            return try ParlaClient(profile: profile, server: server, transport: WebSocketTransport(logger: logger), logger: logger)
        } catch {
            throw CLIError(describing: error)
        }
    }
}

/// The profile lock a command holds for the rest of the process (the kernel drops it at exit).
enum CommandLock {
    private static let held = Mutex<[String: ProfileLock]>([:])

    /// Once per profile and process (a second `flock` from the same process would wait for the first).
    static func take(_ directory: String) throws(ProfileLock.Failure) {
        guard held.withLock({ $0[directory] == nil }) else { return }
        let lock = try ProfileLock(directory: directory, role: .command, waitingUpTo: .seconds(30))
        held.withLock { $0[directory] = lock }
    }
}

/// A one-line error for the user, printed as `parla: …` with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }

    /// A library's error as the user should read it ("disk full", not a database error code).
    init(describing error: any Error) {
        description = StorageFault(error).map { $0.describe(whose: "this computer's") + ": nothing was saved; free some space and try again" }
            ?? "\(error)"
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning errors into a `parla: …` line and exit status 1.
    func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CLIError {
            try? FileHandle.standardError.write(contentsOf: Data("parla: \(error.description)\n".utf8))
            throw ExitCode(1)
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            try? FileHandle.standardError.write(contentsOf: Data("parla: \(CLIError(describing: error).description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create your keys and register NAME on a relay.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Your user name: 3-32 characters of a-z 0-9 _ . -") var name: String
    @Option(help: "An invite code, if the relay's registration is closed.") var invite: String?
    @Flag(help: "Register over plain ws:// to another machine (only on a network you trust: whoever answers is pinned as the relay).") var insecure = false

    func validate() throws {
        guard global.server != nil else { throw ValidationError("--server URL is required (e.g. ws://127.0.0.1:7878/v1)") }
    }

    func run() async throws {
        try await reportingErrors {
            let directory = global.directory
            let logger = global.makeLoggerIfPossible(directory)
            do {
                let profile = try await ParlaClient.register(
                    name: name, server: global.server!, invite: invite, directory: directory,
                    transport: WebSocketTransport(logger: logger), allowInsecure: insecure)
                print("registered \(profile.name) on \(profile.server); profile in \(profile.directory)")
                if let warning = RelayURL.insecureWarning(for: profile.server) {
                    try? FileHandle.standardError.write(contentsOf: Data("parla: warning: \(warning)\n".utf8))
                }
            } catch {
                throw CLIError(describing: error)
            }
        }
    }
}

extension GlobalOptions {
    /// Logs to the profile only if it exists already; `init` must not leave files behind on failure.
    func makeLoggerIfPossible(_ directory: String) -> Logger {
        if FileManager.default.fileExists(atPath: directory) { return makeLogger(profile: directory) }
        return Logger(label: "parla") { _ in SwiftLogNoOpLogHandler() }
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send TEXT (or --file PATH) to TO; prints 'sent ID' or, if the relay is unreachable, 'queued ID'.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Recipient's user name, or #GROUP.") var to: String
    @Argument(help: "The message (not with --file: use --caption).") var text: String?
    @Option(help: "Seconds to wait for the relay before leaving the message queued (with --file: seconds without upload progress).") var timeout: Double = 10
    @Option(name: .customLong("reply-to"), help: "The id of the message (in that chat) this one answers.") var replyTo: String?
    @Option(help: "A file to send (up to 100 MiB), encrypted like a message.") var file: String?
    @Option(help: "A text to go with --file.") var caption: String?

    func validate() throws {
        if file != nil, text != nil { throw ValidationError("with --file, give the text as --caption") }
        if file == nil, text == nil { throw ValidationError("give a TEXT to send, or --file PATH") }
        if file == nil, caption != nil { throw ValidationError("--caption goes with --file") }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            if let group = ClientStore.groupName(ofChat: to), try await client.group(group) == nil {
                // Added to a group since the last run: catch up first, so its members are known.
                _ = try await EngineRun(client).whileRunning(timeout: timeout) { await client.waitUntilSynced() }
            }
            let record: MessageRecord
            do {
                if let file {
                    record = try await client.sendFile(at: file, to: to, caption: caption, replyTo: replyTo)
                } else {
                    record = try await client.send(text ?? "", to: to, replyTo: replyTo)
                }
            } catch {
                throw CLIError(describing: error)
            }
            let meter = record.attachment.map { TransferMeter(name: $0.longText ? "the long message" : $0.name) }
            let following = meter?.follow(client.events) { record.id }
            let outcome = try await EngineRun(client).whileRunning(timeout: timeout, progress: meter) {
                await client.waitUntilSettled(id: record.id)
            }
            if let following {
                await client.finishEvents()
                await following.value
            }
            switch outcome??.status {
            case .failed?:
                throw CLIError("message \(record.id) to \(to) failed: \(outcome??.failureReason ?? "refused by the relay")")
            case nil, .queued?:
                print("queued \(record.id)")
                // Why, on stderr (stdout stays "queued ID" for scripts).
                if let why = await client.lastFailure {
                    try? FileHandle.standardError.write(contentsOf: Data("parla: not sent yet: \(why)\n".utf8))
                }
            default:
                print("sent \(record.id)")
            }
        }
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Connect, send the outbox, download and print new messages, then exit.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds to keep listening after catching up.") var wait: Double = 0
    @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            // Printed once each, in order: what an earlier sync stored but never printed (it was
            // killed) first, then what arrives now.
            let printer = try SyncPrinter(store: client.store, json: json)
            try printer.showBacklog()
            let meter = TransferMeter(name: "files")
            let printing = Task {
                for await event in client.events {
                    if case .messageAdded(let record) = event, record.status == .received { printer.show(record) }
                    if case .transfer(let progress) = event { meter.show(progress) }
                }
            }
            let run = EngineRun(client)
            let synced: Bool? = try await run.whileRunning(timeout: timeout, progress: meter) {
                await client.waitUntilSynced()
                await client.waitUntilOutboxEmpty()
                // Files come down too (and queued ones go up), for as long as they keep moving;
                // a file that stops moving is left for the next sync, the messages are done.
                let stalled = Task { await client.waitUntilTransfersDone() }
                _ = try? await EngineRun.untilStalled(meter, timeout: timeout) { await stalled.value }
                stalled.cancel()
                await client.waitUntilOutboxEmpty()
                return true
            } andThen: {
                if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            }
            await client.finishEvents()
            await printing.value
            if synced == nil {
                let reason = await client.lastFailure ?? "no answer within \(Int(timeout)) s"
                throw CLIError("could not sync with \(client.server): \(reason); \(await client.outboxCount()) message(s) stay queued")
            }
        }
    }
}

struct Chats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List chats with unread counts.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            await EngineRun(client).flushQueued()
            for chat in try client.store.chats() {
                Output.printChat(chat, json: json)
            }
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the latest messages with one user.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The other user's name, or #GROUP.") var with: String
    @Option(help: "How many messages.") var limit = 50
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            await EngineRun(client).flushQueued()
            await client.removeExpiredMessages()
            let reactions = try client.store.reactions(inChat: with)
            for message in try client.store.history(chat: with, limit: limit) {
                Output.printMessage(message, json: json, reactions: reactions[message.id] ?? [:])
            }
        }
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Full-text search over your history.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Words to look for.") var text: String
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            await EngineRun(client).flushQueued()
            for message in try client.store.search(text) {
                Output.printMessage(message, json: json)
            }
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Try the relay and show the connection result and outbox size.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds to wait for the relay.") var timeout: Double = 5
    @Flag(help: "One JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            let online: Bool? = try await EngineRun(client).whileRunning(timeout: timeout) {
                await client.waitUntilSynced()
                return true
            }
            var connection = "online"
            if online == nil {
                connection = "unreachable: " + (await client.lastFailure ?? "no answer within \(Int(timeout)) s")
            }
            Output.printStatus(user: client.profile.name, server: client.server, connection: connection, outbox: await client.outboxCount(), json: json)
        }
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what Parla sees of this terminal: locale, colours and measured character widths.")

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        print("TERM:   \(environment["TERM"] ?? "(unset)")")
        print("LANG:   \(environment["LANG"] ?? "(unset)")  LC_ALL: \(environment["LC_ALL"] ?? "(unset)")")
        print("tmux:   \(environment["TMUX"] == nil ? "no" : "yes")")
        print("NO_COLOR: \(environment["NO_COLOR"].map { $0.isEmpty ? "(empty)" : "set" } ?? "(unset)")")
        guard let widths = TerminalProbe.measure() else {
            print("widths: the terminal did not answer the cursor-position query; Unicode defaults apply")
            return
        }
        print("widths: variation-selector emoji \(widths.variationSelectorEmoji), ZWJ sequence \(widths.zwjSequence), flag \(widths.flag), skin-tone emoji \(widths.skinTone)")
    }
}
