import Foundation
import ParlaCrypto
import ParlaRelayTesting

extension RelayProcess {
    /// Runs `parla-relay stats --json` against this relay's data while it runs.
    func statsJSON() async throws -> [String: Any] {
        let output = try await runRelayCommand(["stats", "--data", dataDirectory, "--json"])
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
    }
}

/// Runs the `parla-relay` executable to completion and returns its output (stdout then stderr).
func runRelayCommand(_ arguments: [String]) async throws -> String {
    let result = try await runChildProcess(try RelayProcess.executable(named: "parla-relay"), arguments)
    return result.out + result.err
}
