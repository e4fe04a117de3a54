import ArgumentParser
import Foundation
import ParlaClient

/// `parla verify NAME`: the safety number to compare with NAME out of band, and
/// `--mark` to record that they matched.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the safety number for NAME (compare it with theirs); --mark records that they matched.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The contact's user name.") var name: String
    @Flag(help: "Mark NAME verified (after comparing the numbers).") var mark = false
    @Flag(help: "Clear the verified mark.") var unmark = false
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        guard !(mark && unmark) else { throw ValidationError("--mark and --unmark exclude each other") }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            guard let number = try await client.safetyNumber(with: name) else {
                throw CLIError("no keys for \(name) yet: exchange a message first, then compare safety numbers")
            }
            if mark || unmark { _ = try await client.markVerified(name, mark) }
            let verified = try await client.contact(name)?.verified ?? false
            if json {
                let object: [String: Any] = ["contact": name, "safetyNumber": number, "verified": verified]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let groups = number.split(separator: " ")
            print("Safety number with \(name):")
            for row in stride(from: 0, to: groups.count, by: 4) { print("  " + groups[row..<min(row + 4, groups.count)].joined(separator: " ")) }
            if verified {
                print("\(name) is verified.")
            } else {
                print("Not verified. Compare this number with \(name)'s (in person or on a call); if it is the same: parla verify \(name) --mark")
            }
        }
    }
}
