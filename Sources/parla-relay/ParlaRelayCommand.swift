import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ParlaRelay
import ParlaRelayPostgres
import ServiceLifecycle

@main
enum RelayMain {
    /// Swift tasks run on the relay's two event-loop threads instead of a separate pool: a frame's
    /// work then no longer hops between threads (each hop a wake-up and a context switch).
    static func main() {
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        Task {
            await ParlaRelayCommand.main()
            exit(0)
        }
        dispatchMain()
    }
}

struct ParlaRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parla-relay",
        abstract: "The Parla relay: stores messages until their recipient downloads them, then deletes them.",
        subcommands: [Serve.self, Invite.self, Stats.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the relay (the default command).")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 7878
    @Option(help: "Directory for the relay's database (SQLite) and uploaded files.") var data = "./parla-data"
    @Option(help: "Where accounts and mailboxes live: 'sqlite' (in --data) or postgres://USER@HOST[:PORT]/DB to share them with other relay nodes.")
    var store = "sqlite"
    @Option(help: "This node's name among the nodes sharing --store postgres://… (default: host name and port).") var node: String?
    @Option(help: "open: anyone may register; closed: an invite code from 'parla-relay invite' is needed.") var registration = "open"
    @Option(help: "How long undelivered messages are kept, e.g. 30d, 12h, 90m.") var ttl = "30d"
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; with --tls-key the relay serves wss://.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("metrics-token"), help: "Serve /metrics only with 'Authorization: Bearer TOKEN' (set it when --host is not loopback).")
    var metricsToken: String?
    @Option(name: .customLong("rate-limit"), help: "Frames per second allowed per connection (0 = unlimited).") var rateLimit: Double = 1000
    @Option(name: .customLong("mailbox-quota"), help: "Most undelivered items (messages, receipts, group news) kept for one recipient.") var mailboxQuota = 10_000
    @Option(name: .customLong("file-quota-mb"), help: "MiB of files one user may have waiting to be downloaded (uploaded, not yet fetched by every recipient).")
    var fileQuotaMB = 1024
    @Option(name: .customLong("disk-reserve-mb"), help: "MiB of disk set aside so deliveries can still be confirmed on a full disk (0: none).") var diskReserveMB = 16
    @Option(name: .customLong("mailbox-quota-per-sender"), help: "Most of those one sender may fill (default: a quarter of --mailbox-quota).") var mailboxQuotaPerSender: Int?
    @Option(name: .customLong("max-group-size"), help: "Most members in a group.") var maxGroupSize = 256
    @Option(name: .customLong("live-hold"), help: "How long a message handed straight to an online recipient waits for its confirmation before it is stored after all, e.g. 200ms, 2s (0 = store every message first).")
    var liveHold = "2s"
    @Option(name: .customLong("max-connections-per-ip"), help: "Most connections open at once from one IP address (0 = no cap; raise it behind a reverse proxy, where every client has the proxy's address).")
    var maxConnectionsPerIP = 1000
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func run() async throws {
        // A file-size limit (ulimit -f) must fail a write the way a full disk does, with an
        // error the store reports and recovers from, not kill the relay with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let registrationMode = RelayConfiguration.Registration(rawValue: registration) else {
            throw ValidationError("--registration must be 'open' or 'closed'")
        }
        guard let ttlMillis = RelayConfiguration.parseDuration(ttl) else {
            throw ValidationError("--ttl must be a positive duration such as 30d, 12h, 90m or 45s")
        }
        guard let liveHoldMillis = liveHold == "0" ? 0 : RelayConfiguration.parseDuration(liveHold), liveHoldMillis <= 60_000 else {
            throw ValidationError("--live-hold must be 0 or a duration up to 60s, such as 200ms or 2s")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard mailboxQuota > 0 else { throw ValidationError("--mailbox-quota must be positive") }
        guard (0...4096).contains(diskReserveMB) else { throw ValidationError("--disk-reserve-mb must be between 0 and 4096") }
        guard (0...1 << 20).contains(fileQuotaMB) else { throw ValidationError("--file-quota-mb must be between 0 and 1048576") }
        if let perSender = mailboxQuotaPerSender, !(1...mailboxQuota).contains(perSender) {
            throw ValidationError("--mailbox-quota-per-sender must be between 1 and --mailbox-quota (\(mailboxQuota))")
        }
        guard maxGroupSize >= 2 else { throw ValidationError("--max-group-size must be at least 2") }
        guard maxConnectionsPerIP >= 0 else { throw ValidationError("--max-connections-per-ip must be 0 (no cap) or more") }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parla-relay")

        var config = RelayConfiguration()
        config.host = host
        config.port = port
        config.dataDirectory = data
        config.registration = registrationMode
        config.ttlMillis = ttlMillis
        config.tlsCertificatePath = tlsCert
        config.tlsKeyPath = tlsKey
        config.metricsToken = metricsToken
        config.maxGroupMembers = maxGroupSize
        config.liveHold = .milliseconds(liveHoldMillis)
        config.rateLimitPerSecond = rateLimit
        config.rateLimitBurst = max(rateLimit * 2, 1)
        config.quota = MailboxQuota(maxMessages: mailboxQuota, maxMessagesPerSender: mailboxQuotaPerSender)
        config.maxConnectionsPerAddress = maxConnectionsPerIP
        config.diskReserveBytes = diskReserveMB << 20
        config.blobQuotaBytes = fileQuotaMB << 20

        let storeChoice = try StoreChoice(store, data: data)
        let relay: Relay
        var services: [any Service] = []
        switch storeChoice {
        case .sqlite:
            do {
                relay = try Relay(configuration: config, logger: logger)
            } catch {
                throw ValidationError("cannot open the relay database in '\(data)': \(error)")
            }
        case .postgres(let url):
            let shared = PostgresMailboxStore(url: url, logger: logger)
            let nodeName = node ?? "\(ProcessInfo.processInfo.hostName):\(port)"
            guard !nodeName.isEmpty, nodeName.utf8.count <= 200 else { throw ValidationError("--node must be 1-200 bytes") }
            relay = try Relay(configuration: config, store: shared, cluster: PostgresClusterSignals(store: shared, node: nodeName, logger: logger), logger: logger)
            // Started first, stopped last: the relay's final commits still reach the database.
            services.append(shared)
        }
        services.append(relay)
        let scheme = tlsCert == nil ? "ws" : "wss"
        Task {
            if let bound = try? await relay.boundPort() {
                logger.info("parla-relay listening", metadata: ["url": "\(scheme)://\(host):\(bound)/v1", "store": "\(storeChoice)", "registration": "\(registration)"])
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

struct Invite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a one-time invite code for --registration closed.")

    @Option(help: "Directory for the relay's database.") var data = "./parla-data"
    @Option(help: "'sqlite' (in --data) or the postgres://… URL the relay nodes share.") var store = "sqlite"

    func run() async throws {
        let code = try await StoreChoice(store, data: data).withStore { try await $0.createInvite(now: Int64(Date().timeIntervalSince1970 * 1000)) }
        print(code)
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counts of users and pending items (works while the relay runs).")

    @Option(help: "Directory for the relay's database.") var data = "./parla-data"
    @Option(help: "'sqlite' (in --data) or the postgres://… URL the relay nodes share.") var store = "sqlite"
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let choice = try StoreChoice(store, data: data)
        if case .sqlite = choice, !FileManager.default.fileExists(atPath: (data as NSString).appendingPathComponent("relay.sqlite")) {
            throw ValidationError("no relay database in '\(data)' (use --data DIR)")
        }
        let stats = try await choice.withStore { try await $0.stats() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        } else {
            print("users:            \(stats.users)")
            print("pending messages: \(stats.pendingMessages)")
            print("pending receipts: \(stats.pendingReceipts)")
            print("database bytes:   \(stats.databaseBytes)")
        }
    }
}

/// The `--store` option: the embedded SQLite database or a PostgreSQL shared by several nodes.
enum StoreChoice: CustomStringConvertible {
    case sqlite(directory: String)
    case postgres(PostgresURL)

    init(_ option: String, data: String) throws {
        if option == "sqlite" {
            self = .sqlite(directory: data)
            return
        }
        do {
            self = .postgres(try PostgresURL(option))
        } catch {
            throw ValidationError("--store must be 'sqlite' or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE: \(error)")
        }
    }

    var description: String {
        switch self {
        case .sqlite(let directory): "sqlite in \(directory)"
        case .postgres(let url): "\(url)"
        }
    }

    /// Opens the store for one command, runs `body` and closes it again.
    func withStore<T: Sendable>(_ body: @escaping @Sendable (any MailboxStore) async throws -> T) async throws -> T {
        switch self {
        case .sqlite(let directory):
            return try await body(try SQLiteMailboxStore(directory: directory))
        case .postgres(let url):
            var logger = Logger(label: "parla-relay")
            logger.logLevel = .warning
            let store = PostgresMailboxStore(url: url, connectPatience: .seconds(5), logger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                group.addTask {
                    try await store.waitUntilReady()
                    return try await body(store)
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw PostgresStoreError.notRunning
            }
        }
    }
}
