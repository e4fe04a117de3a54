import Foundation
import ParlaRelayTesting
import Testing

/// A client written in Python from docs/PROTOCOL.md alone talks to the relay.
@Suite struct ConformanceTests {
    @Test func aClientWrittenFromTheSpecWorks() async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Conformance/minimal_client.py").path
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let result = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, relay.url])
        #expect(result.status == 0, "needs python3 with the 'cryptography' package (.ci/run installs it):\n\(result.out)\(result.err)")
        #expect(result.out.contains("conformance: ok"))
    }
}
