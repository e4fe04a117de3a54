import Foundation
import Logging
import ParlaClient
import ParlaTUI

/// Picks the theme and the terminal's character widths, then runs the UI.
enum UILauncher {
    static func run(client: ParlaClient, themeName: String?, logger: Logger) async throws {
        let environment = ProcessInfo.processInfo.environment
        var theme = Theme.default
        switch themeName {
        case nil, "default": break
        case "mono": theme = .mono
        case let other?: throw CLIError("unknown theme '\(other)'; built in: default, mono")
        }
        if environment["NO_COLOR"].map({ !$0.isEmpty }) == true { theme = .mono }
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw CLIError("the full-screen UI needs a terminal; for scripts use 'parla send', 'parla sync' and friends")
        }
        // What this terminal really draws wins over the tables; without an answer,
        // assume tmux's known habit of drawing VS16 emoji (❤️) one column wide.
        var widths = DisplayWidth()
        if let measured = TerminalProbe.measure() {
            widths = measured
        } else if environment["TMUX"] != nil {
            widths.variationSelectorEmoji = 1
        }
        logger.info("terminal widths", metadata: ["vs16": "\(widths.variationSelectorEmoji)", "zwj": "\(widths.zwjSequence)", "flag": "\(widths.flag)"])
        await TUIApp(client: client, theme: theme, widths: widths, logger: logger).run()
    }
}
