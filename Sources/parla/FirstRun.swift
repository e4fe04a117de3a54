import Foundation
import ParlaClient
import ParlaProtocol

/// The first start without a profile: asks for a name and a relay, registers,
/// and hands over to the UI. Plain lines (no full screen) so it works on any
/// terminal and over any SSH link; Ctrl-D leaves without creating anything.
enum FirstRun {
    static let defaultServer = "ws://127.0.0.1:7878/v1"

    static func run(global: GlobalOptions) async throws -> Profile? {
        let directory = global.directory
        print("""

            Welcome to Parla — messaging for the terminal.
            No profile yet in \(directory).
            Create one now (Ctrl-D to leave; scripts can use 'parla init NAME --server URL',
            and 'parla demo' tries Parla with a built-in relay and contact).

            """)
        var server = global.server
        if server == nil {
            guard let answer = ask("Relay URL [\(defaultServer)]: ") else { return nil }
            server = answer.isEmpty ? defaultServer : answer
        }
        var invite: String?
        var allowInsecure = false
        while true {
            guard let name = ask("Your user name (3-32 of a-z 0-9 _ . -): ") else { return nil }
            guard Validation.isValidName(name) else {
                print("  '\(name)' is not a valid name: use 3-32 characters of a-z 0-9 _ . -")
                continue
            }
            print("  registering \(name) on \(server!) …")
            do {
                let profile = try await ParlaClient.register(name: name, server: server!, invite: invite, directory: directory,
                                                             transport: WebSocketTransport(logger: global.makeLoggerIfPossible(directory)),
                                                             allowInsecure: allowInsecure)
                print("  registered; your profile is in \(profile.directory)")
                return profile
            } catch EngineError.relayRefused(let code, let message) where code == ErrorCode.inviteRequired.rawValue || code == ErrorCode.invalidInvite.rawValue {
                print("  \(message)")
                guard let code = ask("Invite code: ") else { return nil }
                invite = code
            } catch TransportError.insecure(let why) {
                print("  \(why)")
                guard let answer = ask("Register over unencrypted ws:// anyway (only on a network you trust)? [y/N]: ") else { return nil }
                if answer.lowercased().hasPrefix("y") {
                    allowInsecure = true
                } else if let other = ask("Relay URL (wss://…): "), !other.isEmpty {
                    server = other
                }
            } catch EngineError.relayRefused(_, let message) {
                print("  the relay said: \(message)")
            } catch {
                print("  could not register: \(error)")
                guard let answer = ask("Relay URL [\(server!)]: ") else { return nil }
                if !answer.isEmpty { server = answer }
            }
        }
    }

    /// One trimmed line, or nil at end of input.
    private static func ask(_ prompt: String) -> String? {
        try? FileHandle.standardOutput.write(contentsOf: Data(prompt.utf8))
        return readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
    }
}
