import Foundation
import GRDB
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOSSL
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// Health, metrics, the stats and invite commands, and TLS.
@Suite struct OperationsTests {
    func get(_ url: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Only the protocol's path upgrades; elsewhere a WebSocket handshake is refused, and plain
    /// HTTP on the protocol's path is not a page.
    @Test func aWebSocketUpgradeAnywhereButTheProtocolPathIsRefused() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        var request = URLRequest(url: URL(string: relay.httpBase + "/v2")!)
        for (name, value) in [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                              ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")] {
            request.setValue(value, forHTTPHeaderField: name)
        }
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 400)
        let (status, _) = try await get(relay.httpBase + "/v1")
        #expect(status == 404)
        let (health, body) = try await get(relay.httpBase + "/healthz")
        #expect(health == 200 && body == "ok\n")
    }

    @Test func healthAndMetrics() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (status, body) = try await get(relay.httpBase + "/healthz")
        #expect(status == 200)
        #expect(body == "ok\n")

        let alice = try await TestUser.register("alice", on: relay)
        _ = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        a.send(id: "m1", to: "bob", text: "hi")
        try await a.expectAck("m1")
        let bad = try await RelayTestClient.connect(relay.url)
        bad.send(bad.loginFrame(name: "alice", keys: IdentityKeys()))
        _ = try await bad.expectError(.badSignature)

        let (_, metrics) = try await get(relay.httpBase + "/metrics")
        #expect(metrics.contains("parla_messages_accepted_total 1"))
        #expect(metrics.contains("parla_mailbox_depth 1"))
        #expect(metrics.contains("parla_auth_failures_total 1"))
        #expect(metrics.contains("parla_connections 2"))
        #expect(metrics.contains("parla_messages_delivered_total 0"))
        #expect(metrics.contains("parla_messages_expired_total 0"))
        // Scrapes in a loop do not count the mailboxes each time: the depth is at most 10 s old,
        // while the in-memory counters move at once.
        a.send(id: "m2", to: "bob", text: "again")
        try await a.expectAck("m2")
        for _ in 0..<20 {
            let (_, again) = try await get(relay.httpBase + "/metrics")
            #expect(again.contains("parla_mailbox_depth 1") && again.contains("parla_messages_accepted_total 2"))
        }
        await a.close()
        await bad.close()
    }

    @Test func statsCommandWorksWhileTheRelayRuns() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        _ = try await TestUser.register("bob", on: relay)
        let a = try await alice.connectIdle()
        a.send(id: "m1", to: "bob", text: "hi")
        a.send(id: "m2", to: "bob", text: "hi again")
        try await a.expectAck("m1")
        try await a.expectAck("m2")

        let json = try await runRelayCommand(["stats", "--data", relay.dataDirectory, "--json"])
        let stats = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
        #expect(stats["users"] as? Int == 2)
        #expect(stats["pendingMessages"] as? Int == 2)
        #expect(stats["pendingReceipts"] as? Int == 0)
        #expect((stats["databaseBytes"] as? Int ?? 0) > 0)

        let text = try await runRelayCommand(["stats", "--data", relay.dataDirectory])
        #expect(text.contains("pending messages: 2"))
        let missing = try await runRelayCommand(["stats", "--data", "/nonexistent/parla"])
        #expect(missing.contains("no relay database"))
        await a.close()
    }

    @Test func inviteCommandPrintsAOneTimeCode() async throws {
        let relay = try await TestRelay.start { $0.registration = .closed }
        defer { Task { await relay.stop() } }
        let code = try await runRelayCommand(["invite", "--data", relay.dataDirectory]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(code.count == 24)
        let client = try await RelayTestClient.connect(relay.url)
        guard case .welcome = try await client.register("alice", keys: IdentityKeys(), invite: code) else {
            Issue.record("invite from the command was refused"); return
        }
        await client.close()
    }

    /// The database says who talks to whom and holds waiting ciphertext: the relay's user only.
    @Test func theDataDirectoryAndDatabaseAreTheRelaysOwnerOnly() async throws {
        let directory = makeTemporaryDirectory(prefix: "parla-perms")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        let relay = try await TestRelay.start(dataDirectory: directory)
        defer { Task { await relay.stop() } }
        _ = try await TestUser.register("alice", on: relay)
        func mode(_ path: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int }
        #expect(try mode(directory) == 0o700)
        for suffix in ["", "-wal", "-shm"] {
            #expect(try mode(relay.databasePath + suffix) == 0o600, "relay.sqlite\(suffix)")
        }
    }

    /// A lost database must not be replaced by an empty one (everything acknowledged before
    /// would be gone without a word), and a damaged one is named at start.
    @Test func aLostOrDamagedDatabaseStopsTheRelayWithTheReason() async throws {
        let lost = makeTemporaryDirectory(prefix: "parla-lost")
        let relay = try await TestRelay.start(dataDirectory: lost)
        _ = try await TestUser.register("alice", on: relay)
        await relay.stop()
        try "leftover".write(toFile: lost + "/relay.sqlite-wal", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: lost + "/relay.sqlite")
        let refused = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/timeout"),
                                                ["20", try RelayProcess.executable(named: "parla-relay").path, "--port", "0", "--data", lost]).err
        #expect(refused.contains("relay.sqlite is missing but its write-ahead log"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: lost + "/relay.sqlite"), "no fresh database made")

        let damaged = makeTemporaryDirectory(prefix: "parla-damaged")
        let second = try await TestRelay.start(dataDirectory: damaged)
        for n in 0..<50 { _ = try await TestUser.register("user\(n)", on: second) }
        await second.stop()
        // Everything into the main file first (pages in the write-ahead log would hide the damage).
        try await DatabaseQueue(path: damaged + "/relay.sqlite").writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        // Scribble over the pages after the header (the schema's and the first tables' roots).
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: damaged + "/relay.sqlite"))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 8192))
        try handle.close()
        // Bounded: a relay that starts on the damaged file would otherwise run on.
        let binary = try RelayProcess.executable(named: "parla-relay").path
        let result = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/timeout"), ["20", binary, "--port", "0", "--data", damaged])
        let reported = result.out + result.err
        #expect(reported.contains("cannot open the relay database") && (reported.contains("fails SQLite's check") || reported.contains("malformed")), "\(reported)")
    }

    @Test func metricsWithATokenAnswerOnlyWhoPresentsIt() async throws {
        let relay = try await TestRelay.start { $0.metricsToken = "s3cret" }
        defer { Task { await relay.stop() } }
        #expect(try await get(relay.httpBase + "/metrics").0 == 401)
        var request = URLRequest(url: URL(string: relay.httpBase + "/metrics")!)
        request.setValue("Bearer wrong", forHTTPHeaderField: "Authorization")
        #expect((try await URLSession.shared.data(for: request).1 as? HTTPURLResponse)?.statusCode == 401)
        request.setValue("Bearer s3cret", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self).contains("parla_connections"))
        #expect(try await get(relay.httpBase + "/healthz").0 == 200, "health stays open")
    }

    @Test func badCommandLineArgumentsAreExplained() async throws {
        #expect(try await runRelayCommand(["--registration", "maybe"]).contains("--registration must be 'open' or 'closed'"))
        #expect(try await runRelayCommand(["--ttl", "forever"]).contains("--ttl must be a positive duration"))
        #expect(try await runRelayCommand(["--tls-cert", "x.pem"]).contains("--tls-cert and --tls-key go together"))
    }

    @Test func servesWSSWithACertificate() async throws {
        let (cert, key) = try await TestRelay.makeCertificate()
        let relay = try await TestRelay.start {
            $0.tlsCertificatePath = cert
            $0.tlsKeyPath = key
        }
        defer { Task { await relay.stop() } }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        tls.certificateVerification = .noHostnameVerification
        let client = try await RelayTestClient.connect("wss://127.0.0.1:\(relay.port)/v1", tls: tls)
        guard case .welcome = try await client.register("alice", keys: IdentityKeys()) else {
            Issue.record("no welcome over TLS"); return
        }
        await client.close()
    }
}
