import ArgumentParser
import Foundation
import Logging
import ParlaBench

@main
struct ParlaBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parla-bench",
        abstract: "Measures Parla: the relay under load and the UI with a large history.",
        subcommands: [Online.self, Offline.self, Connections.self, Soak.self, Client.self, Files.self, UI.self, BareRelayCommand.self])
}

/// Prints a summary for people, or one JSON object with `--json`.
func report<T: Encodable>(_ result: T, json: Bool, human: () -> String) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    } else {
        print(human())
    }
}

func benchLogger() -> Logger {
    var logger = Logger(label: "parla-bench")
    logger.logLevel = .error
    return logger
}

struct UI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "First paint of the UI with a large history (in-process and the real binary in tmux).")
    @Option(help: "Messages in the history.") var messages = 100_000
    @Option(help: "Chats they are spread over.") var chats = 50
    @Option(help: "Measured runs (the median is reported).") var runs = 5
    @Option(help: "Terminal width.") var width = 120
    @Option(help: "Terminal height.") var height = 40
    @Flag(help: "Skip the runs of the real binary in tmux.") var noTerminal = false
    @Flag(help: "One JSON object instead of text.") var json = false

    func validate() throws {
        guard messages > 0, chats > 0, runs > 0 else { throw ValidationError("--messages, --chats and --runs must be positive") }
        guard width >= 30, height >= 8 else { throw ValidationError("the UI needs at least 30x8") }
    }

    func run() async throws {
        var options = UIFirstPaint.Options()
        options.messages = messages
        options.chats = chats
        options.runs = runs
        options.width = width
        options.height = height
        if !noTerminal {
            let sibling = ((Bundle.main.executablePath ?? CommandLine.arguments[0]) as NSString).deletingLastPathComponent + "/parla"
            guard FileManager.default.isExecutableFile(atPath: sibling) else {
                throw ValidationError("no parla binary next to parla-bench (\(sibling)); build it or pass --no-terminal")
            }
            options.parlaBinary = sibling
        }
        let result = try await UIFirstPaint(options: options, logger: benchLogger()).run { line in
            if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        try report(result, json: json) {
            var lines = ["ui first paint: \(result.messages) messages in \(result.chats) chats, \(result.width)x\(result.height)",
                         "  seed: \(Int(result.seedPerSecond)) messages/s",
                         "  in-process (open store, load chats and newest page, render): \(result.inProcess.line)"]
            if let terminal = result.terminal { lines.append("  real binary in tmux, launch to first frame with messages: \(terminal.line)") }
            if let after = result.terminalAfterUIStart { lines.append("    of which after the UI thread started: \(after.line)") }
            return lines.joined(separator: "\n")
        }
    }
}
