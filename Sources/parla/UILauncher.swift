import Foundation
import Logging
import ParlaClient
import ParlaTUI

/// Reads the configuration, picks the theme and the terminal's character widths, then runs the UI.
enum UILauncher {
    static func run(client: ParlaClient, themeName: String?, logger: Logger) async throws {
        let environment = ProcessInfo.processInfo.environment
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw CLIError("the full-screen UI needs a terminal; for scripts use 'parla send', 'parla sync' and friends")
        }
        let profileLock: ProfileLock
        do {
            // A command that is finishing (a `parla send` from a script) is waited for, briefly.
            profileLock = try ProfileLock(directory: client.profile.directory, role: .ui, waitingUpTo: .seconds(10))
        } catch {
            throw CLIError(error.description)
        }
        defer { withExtendedLifetime(profileLock) {} }
        // A broken file never stops the UI: defaults are used and the status line says what to fix.
        var problems: [String] = client.profile.permissionWarnings
        let (config, configErrors) = AppConfig.load(files: AppConfig.files(profileDirectory: client.profile.directory))
        problems += configErrors.map(\.description)
        let catalog = ThemeCatalog.standard()
        var theme = Theme.default
        let wanted = themeName ?? config.theme ?? "default"
        do {
            theme = try catalog.load(wanted)
        } catch {
            if themeName != nil { throw CLIError("\(error)") }
            problems.append("\(error); using the default theme")
        }
        if environment["NO_COLOR"].map({ !$0.isEmpty }) == true { theme = .mono }
        for problem in problems { logger.warning("configuration", metadata: ["problem": "\(problem)"]) }

        // What this terminal really draws wins over the tables; without an answer,
        // assume tmux's known habit of drawing VS16 emoji (❤️) one column wide.
        var widths = DisplayWidth()
        if let measured = TerminalProbe.measure() {
            widths = measured
        } else if environment["TMUX"] != nil {
            widths.variationSelectorEmoji = 1
        }
        logger.info("terminal widths", metadata: ["vs16": "\(widths.variationSelectorEmoji)", "zwj": "\(widths.zwjSequence)", "flag": "\(widths.flag)", "skinTone": "\(widths.skinTone)"])
        // Pictures (/view, and inside the conversation): kitty graphics or sixel, if the
        // terminal answers that it draws them.
        let (graphics, cell) = TerminalProbe.graphics()
        logger.info("terminal graphics", metadata: ["graphics": "\(graphics?.rawValue ?? "none")", "cell": "\(cell.map { "\($0.width)x\($0.height)" } ?? "unknown")"])
        await TUIApp(client: client, theme: theme, widths: widths, config: config, catalog: catalog,
                     startupNotice: problems.first, graphics: graphics, cell: cell, logger: logger).run()
    }
}
