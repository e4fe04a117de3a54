import ArgumentParser
import Foundation
import ParlaBench

/// The flags every relay scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Relay to measure (ws://HOST:PORT/v1; several nodes of one relay comma-separated, users spread over them). Without it, parla-bench starts a parla-relay of its own (no rate limit).")
    var server: String?
    @Option(name: .customLong("relay-pid"), help: "PID of the relay given by --server (found by its port when omitted).")
    var relayPID: Int32?
    @Option(help: "Simulated users.") var clients = 100
    @Option(help: "Messages in all.") var messages = 100_000
    @Option(help: "Bytes per message body.") var size = 256
    @Option(help: "Unacknowledged sends per client at full speed.") var window = 256
    @Option(help: "Event-loop threads of the generator.") var threads = 1
    @Option(help: "Give up after this many seconds.") var timeout = 300
    @Flag(help: "One JSON object instead of text.") var json = false

    func validate() throws {
        guard clients > 0, messages > 0, size > 0, window > 0, threads > 0, timeout > 0 else {
            throw ValidationError("--clients, --messages, --size, --window, --threads and --timeout must be positive")
        }
        guard size <= 64 * 1024 else { throw ValidationError("--size is at most 65536 (the protocol's body limit)") }
    }

    var load: LoadOptions {
        var options = LoadOptions()
        options.server = server
        options.relayPID = relayPID
        options.clients = clients
        options.messages = messages
        options.size = size
        options.window = window
        options.threads = threads
        options.timeout = .seconds(timeout)
        return options
    }
}

struct Online: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Clients in a ring: delivered messages per second and send → delivery latency (p50/p99/p99.9).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Offered messages per second in all (default: as fast as acknowledgements allow).") var rate: Double?
    @Flag(name: .customLong("no-baseline"), help: "Skip the bare WebSocket relay run.") var noBaseline = false

    func run() async throws {
        var result = try await OnlineScenario(options: common.load, rate: rate).run()
        if !noBaseline {
            result.compare(withBare: try await OnlineScenario(options: common.load, rate: rate, bare: true).run())
        }
        try report(result, json: common.json) { result.summary }
    }
}

struct Offline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receivers offline: store rate (durable acks), then drain rate when they log in.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Messages queued per receiver (default: --messages / --clients).") var depth: Int?
    @Flag(name: .customLong("no-baseline"), help: "Skip the raw SQLite run.") var noBaseline = false

    func run() async throws {
        var options = common.load
        if let depth {
            guard depth > 0 else { throw ValidationError("--depth must be positive") }
            options.messages = depth * options.clients
        }
        var result = try await OfflineScenario(options: options).run()
        if !noBaseline {
            let sqlite = try SQLiteBaseline(rows: result.messages, size: options.size).run()
            result.sqliteInsertPerSecond = sqlite.insertPerSecond
            result.sqliteDeletePerSecond = sqlite.deletePerSecond
            result.storeShareOfSQLite = result.storePerSecond / sqlite.insertPerSecond
            result.drainShareOfSQLite = result.drainPerSecond / sqlite.deletePerSecond
        }
        try report(result, json: common.json) { result.summary }
    }
}

struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open and hold --clients authenticated idle connections: logins per second and relay memory per connection.")
    @OptionGroup var common: CommonOptions
    @Option(name: .customLong("source-addresses"), help: "Comma-separated local addresses to connect from (127.0.0.2,127.0.0.3,…), past the ephemeral-port limit.")
    var sourceAddresses: String?
    @Option(help: "Seconds to hold the connections before measuring memory.") var hold = 3

    func run() async throws {
        let sources = sourceAddresses?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        let result = try await ConnectionsScenario(options: common.load, sourceAddresses: sources, hold: .seconds(hold)).run()
        try report(result, json: common.json) { result.summary }
    }
}

struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A steady ring load for a while: throughput and relay memory over time.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Offered messages per second in all.") var rate: Double = 5_000
    @Option(help: "Seconds to run.") var duration = 600
    @Option(help: "Seconds between memory samples.") var interval = 10

    func run() async throws {
        guard rate > 0, duration > 0, interval > 0 else { throw ValidationError("--rate, --duration and --interval must be positive") }
        let result = try await SoakScenario(options: common.load, rate: rate, duration: .seconds(duration), interval: .seconds(interval)).run()
        try report(result, json: common.json) { result.summary }
    }
}

struct Client: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A real ParlaClient drains --messages encrypted messages queued for it: decrypt + local commit + confirm per second.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let result = try await ClientDrainScenario(options: common.load, logger: benchLogger()).run()
        try report(result, json: common.json) { result.summary }
    }
}

struct Files: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One file of --size-mb MiB between two real ParlaClients: upload and download MiB/s next to this disk's write speed.")
    @OptionGroup var common: CommonOptions
    @Option(name: .customLong("size-mb"), help: "MiB in the file (at most 100, the attachment limit).") var sizeMB = 100

    func validate() throws {
        guard (1...100).contains(sizeMB) else { throw ValidationError("--size-mb must be between 1 and 100") }
    }

    func run() async throws {
        let result = try await FileTransferScenario(options: common.load, sizeMiB: sizeMB, logger: benchLogger()).run()
        try report(result, json: common.json) { result.summary }
    }
}

struct BareRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bare-relay", abstract: "The bare WebSocket relay used as a baseline (started by the scenarios).", shouldDisplay: false)
    @Option(help: "Port (0 picks a free one).") var port = 0
    @Option(name: .customLong("port-file"), help: "Write the bound port here.") var portFile: String?

    func run() async throws {
        try await BareRelay.serve(port: port, portFile: portFile)
    }
}
