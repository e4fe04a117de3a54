import Foundation
import Logging
import NIOSSL
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

    @Test func aListOfNodesIsNormalizedEachOnceAndEmptyEntriesAreNamed() throws {
        #expect(try RelayURL.normalizedList("ws://a:1, ws://b:2/v1,ws://a:1/v1") == "ws://a:1/v1,ws://b:2/v1")
        #expect(try RelayURL.normalizedList("wss://one.example") == "wss://one.example/v1")
        #expect(RelayURL.nodes("ws://a:1/v1,ws://b:2/v1") == ["ws://a:1/v1", "ws://b:2/v1"])
        #expect(RelayURL.nodes("ws://a:1/v1") == ["ws://a:1/v1"])
        #expect(throws: TransportError.self) { try RelayURL.normalizedList("ws://a:1,,ws://b:2") }
        #expect(throws: TransportError.self) { try RelayURL.normalizedList("ws://a:1,http://b:2") }
        // One plain node beyond this machine is enough for the warning.
        #expect(RelayURL.insecureWarning(for: "ws://127.0.0.1:1/v1,ws://chat.example.org/v1")?.contains("chat.example.org") == true)
        #expect(RelayURL.insecureWarning(for: "ws://127.0.0.1:1/v1,wss://chat.example.org/v1") == nil)
    }

    @Test func plainWebSocketBeyondThisMachineIsWarnedAbout() {
        #expect(RelayURL.insecureWarning(for: "ws://127.0.0.1:7878/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "ws://localhost:7878/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "wss://chat.example.org/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "ws://chat.example.org/v1")?.contains("use wss://") == true)
        #expect(RelayURL.insecureWarning(for: "ws://192.168.1.5:7878/v1") != nil)
        #expect(RelayURL.insecureWarning(for: "ws://[::1]:7878/v1") == nil)
        #expect(RelayURL.insecureWarning(for: "ws://127.9.0.1:7878/v1") == nil)
        // Names that merely start like loopback are somebody else's machine.
        #expect(RelayURL.insecureWarning(for: "ws://127.0.0.1.example.com:7878/v1") != nil)
        #expect(RelayURL.insecureWarning(for: "ws://localhost.example.com:7878/v1") != nil)
        #expect(RelayURL.insecureWarning(for: "ws://[::2]:7878/v1") != nil)
    }

    @Test func registeringOverPlainWebSocketToAnotherMachineIsRefusedUnlessAllowed() async throws {
        let directory = makeTemporaryDirectory(prefix: "parla-insecure") + "/profile"
        let transport = UnreachableTransport()
        await #expect(throws: TransportError.self) {
            _ = try await ParlaClient.register(name: "alice", server: "ws://192.0.2.1:7878", invite: nil, directory: directory, transport: transport)
        }
        #expect(transport.attempts.value == 0, "nothing was sent to that host")
        #expect(!FileManager.default.fileExists(atPath: directory), "no keys or profile were left behind")
        // Allowed, it goes ahead (and here finds no relay).
        await #expect(throws: TransportError.unreachable("connection refused")) {
            _ = try await ParlaClient.register(name: "alice", server: "ws://192.0.2.1:7878", invite: nil, directory: directory,
                                               transport: transport, allowInsecure: true)
        }
        #expect(transport.attempts.value == 1)
        // The command line says why and what to do.
        let home = makeTemporaryDirectory(prefix: "parla-insecure-home")
        let refused = try await runParla(["init", "bob", "--server", "ws://192.0.2.1:7878", "--home", home])
        #expect(refused.status != 0)
        #expect(refused.err.contains("refusing to register over an unencrypted connection"), "\(refused.err)")
        #expect(refused.err.contains("--insecure"))
        #expect(!Profile.exists(at: home) && Profile.pending(in: home) == nil, "no profile or keys were made")
    }

    /// The certificate of a relay reached by IP address must name that address: a certificate
    /// for a host name (this client once checked every IP against "localhost") is refused.
    @Test func aRelayReachedByIPAddressNeedsACertificateForThatAddress() async throws {
        func connect(_ url: String, trusting certificate: String) async -> String {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates((try? NIOSSLCertificate.fromPEMFile(certificate)) ?? [])
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            do {
                let link = try await WebSocketTransport(connectTimeout: .seconds(5), tlsConfiguration: tls, logger: logger).connect(to: url)
                await link.close()
                return "connected"
            } catch {
                return "\(error)"
            }
        }
        // (An IP entry also passes when the name resolves to that address: the connected
        // address is what it is checked against.)
        for (altName, ip, name) in [("DNS:localhost", false, true), ("IP:127.0.0.1", true, true), ("DNS:example.org", false, false)] {
            let (cert, key) = try await TestRelay.makeCertificate(subjectAltName: altName)
            let relay = try await TestRelay.start {
                $0.tlsCertificatePath = cert
                $0.tlsKeyPath = key
            }
            let byIP = await connect("wss://127.0.0.1:\(relay.port)", trusting: cert)
            #expect((byIP == "connected") == ip, "\(altName) by IP: \(byIP)")
            if !ip { #expect(byIP.contains("TLS failed"), "\(byIP)") }
            let byName = await connect("wss://localhost:\(relay.port)", trusting: cert)
            #expect((byName == "connected") == name, "\(altName) by name: \(byName)")
            await relay.stop()
        }
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
