import Foundation
import Logging
@testable import ParlaClient
import ParlaRelayTesting
import Testing

/// Relay addresses as people type them, and connection failures as causes with a fix.
@Suite struct RelayURLTests {
    @Test func theDefaultPathIsAddedAndMistakesAreNamed() throws {
        #expect(try RelayURL.normalized("ws://127.0.0.1:7878") == "ws://127.0.0.1:7878/v1")
        #expect(try RelayURL.normalized("ws://127.0.0.1:7878/") == "ws://127.0.0.1:7878/v1")
        #expect(try RelayURL.normalized(" wss://chat.example.org ") == "wss://chat.example.org/v1")
        #expect(try RelayURL.normalized("WS://host:1/v1") == "ws://host:1/v1")
        #expect(try RelayURL.normalized("ws://host:1/custom") == "ws://host:1/custom", "a path that is given is kept")
        func message(_ url: String) -> String {
            do { _ = try RelayURL.normalized(url); return "accepted" } catch { return error.description }
        }
        #expect(message("127.0.0.1:7878").contains("write ws://127.0.0.1:7878"))
        #expect(message("http://host:7878").contains("write ws://host:7878"))
        #expect(message("https://host").contains("write wss://host"))
        #expect(message("ftp://host").contains("is not a relay URL"))
        #expect(message("ws://").contains("is not a relay URL"))
    }

    @Test func plainWebSocketBeyondThisMachineIsWarnedAbout() {
        #expect(RelayURL.insecureWarning(for: "ws://127.0.0.1:7878/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "ws://localhost:7878/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "wss://chat.example.org/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "ws://chat.example.org/v1")?.contains("use wss://") == true)
        #expect(RelayURL.insecureWarning(for: "ws://192.168.1.5:7878/v1") != nil)
    }

    func failure(_ url: String) async -> String {
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        do {
            let link = try await WebSocketTransport(connectTimeout: .seconds(5), logger: logger).connect(to: url)
            await link.close()
            return "connected"
        } catch {
            return "\(error)"
        }
    }

    @Test func connectionFailuresSayWhatToDo() async throws {
        // A port nothing listens on.
        let closed = try await freePort()
        #expect(await failure("ws://127.0.0.1:\(closed)").contains("connection refused at 127.0.0.1:\(closed): is parla-relay running there"))
        // A name that cannot resolve (.invalid is reserved for that).
        #expect(await failure("ws://no-such-host.invalid:7878").contains("cannot find the host 'no-such-host.invalid'"))
        // wss:// to a relay without TLS.
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let plain = relay.url.replacingOccurrences(of: "ws://", with: "wss://")
        let tlsMismatch = await failure(plain)
        #expect(tlsMismatch.contains("use ws:// instead of wss://"), "\(tlsMismatch)")
        // The right relay without the path: it just works.
        #expect(await failure(relay.url.replacingOccurrences(of: "/v1", with: "")) == "connected")
    }

    @Test func plainWebSocketToATLSRelaySaysUseWSS() async throws {
        let (cert, key) = try await TestRelay.makeCertificate()
        let relay = try await TestRelay.start {
            $0.tlsCertificatePath = cert
            $0.tlsKeyPath = key
        }
        defer { Task { await relay.stop() } }
        let cause = await failure("ws://127.0.0.1:\(relay.port)")
        #expect(cause.contains("use wss://"), "\(cause)")
    }

    private func freePort() async throws -> Int {
        let relay = try await TestRelay.start()
        let port = relay.port
        await relay.stop()
        return port
    }
}
