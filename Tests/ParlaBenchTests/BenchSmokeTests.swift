import Foundation
import ParlaBench
import Testing

/// `parla-bench` on a small scale against a real `parla-relay` child process: every scenario
/// completes with every message delivered exactly once. No timing is asserted (the suite runs
/// on busy 2-core machines); the numbers themselves belong in docs/BENCHMARKS.md.
@Suite(.serialized) struct BenchSmokeTests {
    func small(clients: Int = 6, messages: Int = 600) -> LoadOptions {
        var options = LoadOptions()
        options.clients = clients
        options.messages = messages
        options.size = 100
        options.window = 32
        options.timeout = .seconds(60)
        return options
    }

    @Test func onlineDeliversEveryMessageOnceAndMeasuresTheRelay() async throws {
        let result = try await OnlineScenario(options: small()).run()
        #expect(result.delivered == 600 && result.duplicates == 0 && result.errors == 0, "\(result.summary)")
        #expect(result.p50Ms > 0 && result.p50Ms <= result.p99Ms && result.p99Ms <= result.p999Ms && result.p999Ms <= result.maxMs)
        #expect(result.cost.relayCpuSeconds != nil, "the relay's CPU is read from /proc")
        #expect((result.cost.relayRssBytes ?? 0) > 1_000_000)

        let paced = try await OnlineScenario(options: small(messages: 300), rate: 600).run()
        #expect(paced.delivered == 300 && paced.duplicates == 0, "\(paced.summary)")
        #expect(paced.seconds >= 0.4, "300 messages offered at 600/s take about half a second, not less")

        let bare = try await OnlineScenario(options: small(), bare: true).run()
        #expect(bare.delivered == 600 && bare.duplicates == 0, "\(bare.summary)")
        var compared = result
        compared.compare(withBare: bare)
        #expect(compared.shareOfBare == result.deliveredPerSecond / bare.deliveredPerSecond)
        #expect(compared.bareP99Ms == bare.p99Ms && compared.bareP50Ms == bare.p50Ms && compared.bareP999Ms == bare.p999Ms)
        #expect(compared.summary.contains("Parla reaches") && compared.summary.contains("its latency p50"), "\(compared.summary)")
        #expect(!result.summary.contains("bare WebSocket relay"), "no baseline line without a baseline run")
    }

    @Test func offlineStoresThenDrainsEverythingOnce() async throws {
        let result = try await OfflineScenario(options: small(clients: 4, messages: 400)).run()
        #expect(result.depth == 100 && result.stored == 400, "\(result.summary)")
        #expect(result.delivered == 400 && result.duplicates == 0 && result.errors == 0, "\(result.summary)")
        let sqlite = try SQLiteBaseline(rows: 500, size: 100).run()
        #expect(sqlite.insertPerSecond > 0 && sqlite.deletePerSecond > 0)
    }

    @Test func connectionsAreHeldAndMemoryIsRead() async throws {
        let result = try await ConnectionsScenario(options: small(clients: 40), sourceAddresses: ["127.0.0.1", "127.0.0.2"], hold: .milliseconds(300)).run()
        #expect(result.held == 40 && result.connections == 40, "\(result.summary)")
        #expect(result.loginsPerSecond > 0 && result.relayBytesPerConnection != nil)
    }

    @Test func aRealClientDrainsEncryptedMessages() async throws {
        var options = small(messages: 60)
        options.size = 50
        let result = try await ClientDrainScenario(options: options, logger: .init(label: "bench-test")).run()
        #expect(result.stored == 60, "\(result.summary)")
    }

    @Test func soakReportsMemoryOverTime() async throws {
        let result = try await SoakScenario(options: small(clients: 4), rate: 200, duration: .seconds(2), interval: .milliseconds(500)).run()
        #expect(result.delivered == result.sent && result.duplicates == 0 && result.errors == 0, "\(result.summary)")
        #expect(result.samples.count >= 3 && result.samples.allSatisfy { $0.relayRssBytes > 0 })
    }

    @Test func theProcessListeningOnAPortIsFound() async throws {
        let relay = try await BenchRelay.start(server: nil, relayPID: nil)
        defer { Task { await relay.stop() } }
        let port = Int(relay.url.split(separator: ":").last!.split(separator: "/").first!)!
        #expect(ProcessSample.pidListening(onPort: port) == relay.pid)
        let attached = try await BenchRelay.start(server: relay.url, relayPID: nil)
        #expect(attached.pid == relay.pid)
        await #expect(throws: BenchRelay.Failure.self) { try await BenchRelay.start(server: "http://nope", relayPID: nil) }
    }
}
