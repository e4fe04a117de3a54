import Foundation
import ParlaCrypto
import ParlaRelayTesting

enum IdentityKeysFixture {
    static func make() -> IdentityKeys { IdentityKeys() }
}

extension RelayProcess {
    /// Runs `parla-relay stats --json` against this relay's data while it runs.
    func statsJSON() async throws -> [String: Any] {
        let output = try runRelayCommand(["stats", "--data", dataDirectory, "--json"])
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
    }
}

/// Runs the `parla-relay` executable to completion and returns its standard output.
func runRelayCommand(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = try RelayProcess.executable(named: "parla-relay")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
