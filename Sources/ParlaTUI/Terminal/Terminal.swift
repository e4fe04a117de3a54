import CNcurses
import Foundation

/// The only place that talks to ncurses: it starts and restores the terminal,
/// reads raw input, and copies a `ScreenBuffer` to the screen (ncurses then sends
/// only what changed). Every call must come from the UI thread.
final class Terminal {
    private(set) var isUTF8 = true
    private var mouseOn = false
    private var started = false
    private var pairs: [StyleRole: (attr: attr_t, pair: Int16)] = [:]
    /// The same styles as escape sequences, for clusters written past ncurses.
    private var sgr: [StyleRole: String] = [:]

    /// Sets the locale (falling back to C.UTF-8 over SSH with LANG=C) and takes the screen.
    func start(mouse: Bool = false) {
        setlocale(LC_ALL, "")
        if !Self.codesetIsUTF8() {
            setlocale(LC_ALL, "C.UTF-8")
            isUTF8 = Self.codesetIsUTF8()
        }
        CrashRestore.install()
        initscr()
        raw()
        noecho()
        nonl()
        keypad(parla_stdscr(), true)
        set_escdelay(25)
        wtimeout(parla_stdscr(), 30)
        if has_colors() {
            start_color()
            use_default_colors()
        }
        // Bracketed paste on; save the window title so quitting puts it back.
        Self.write("\u{1B}[?2004h\u{1B}[22;0t")
        if mouse {
            parla_mouse_on()
            mouseOn = true
        }
        started = true
    }

    /// Gives the terminal back exactly as it was. Safe to call more than once.
    func stop() {
        guard started else { return }
        started = false
        CrashRestore.uninstall()
        if mouseOn { parla_mouse_off() }
        if titleSet { Self.write("\u{1B}[23;0t") }
        Self.write("\u{1B}[?2004l")
        // Terminals without an alternate screen (vt100, the Linux console) would keep the
        // UI on screen after quitting: clear it first (elsewhere this clears a screen that is
        // about to be swapped out anyway).
        werase(parla_stdscr())
        wmove(parla_stdscr(), 0, 0)
        wrefresh(parla_stdscr())
        endwin()
    }

    var size: (width: Int, height: Int) { (Int(parla_cols()), Int(parla_lines())) }

    /// Everything typed since the last call; waits up to `waitMilliseconds` for the first unit.
    func readInputs(waitMilliseconds: Int32 = 30) -> (inputs: [RawInput], resized: Bool) {
        wtimeout(parla_stdscr(), waitMilliseconds)
        var inputs: [RawInput] = []
        var resized = false
        var ch: wint_t = 0
        while true {
            let result = parla_get(&ch)
            if result == ERR { break }
            if result == parla_key_code_yes() {
                if Int32(ch) == parla_key_resize() {
                    resized = true
                } else if Int32(ch) == parla_key_mouse() {
                    let wheel = parla_wheel()
                    if wheel != 0 { inputs.append(.wheel(Int(wheel))) }
                } else {
                    let name = keyname(Int32(ch)).map { String(cString: $0) } ?? ""
                    inputs.append(.keyCode(Int32(ch), name: name))
                }
            } else {
                inputs.append(.character(UInt32(ch)))
            }
            if inputs.count > 4096 { break }
            wtimeout(parla_stdscr(), 0)
        }
        return (inputs, resized)
    }

    func apply(theme: Theme) {
        pairs = [:]
        sgr = [:]
        let colors = has_colors() ? Int(parla_colors()) : 0
        var next: Int16 = 1
        for role in StyleRole.named + theme.senderPalette.indices.map(StyleRole.sender) {
            let style = ColorMapping.resolve(theme.style(role), colors: colors, darkBackground: theme.darkBackground)
            var attr: attr_t = 0
            if style.bold { attr |= parla_a_bold() }
            if style.dim { attr |= parla_a_dim() }
            if style.underline { attr |= parla_a_underline() }
            if style.reverse { attr |= parla_a_reverse() }
            if style.italic { attr |= parla_a_italic() }
            var pair: Int16 = 0
            if colors > 0, style.foreground != nil || style.background != nil, Int(next) < Int(parla_color_pairs()) {
                init_pair(next, Int16(style.foreground ?? -1), Int16(style.background ?? -1))
                pair = next
                next += 1
            } else if colors == 0, theme.style(role).background != nil || role == .chatSelected || role == .statusLine {
                attr |= parla_a_reverse()
            }
            pairs[role] = (attr, pair)
            sgr[role] = Self.sgr(style, reverseInstead: colors == 0 && attr & parla_a_reverse() != 0)
        }
    }

    /// Copies the buffer into ncurses' screen and updates the terminal once.
    func draw(_ buffer: ScreenBuffer, cursor: (x: Int, y: Int)?) {
        var complex: [(x: Int, y: Int, cell: Cell)] = []
        for y in 0..<buffer.height {
            for x in 0..<buffer.width {
                let cell = buffer[x, y]
                if cell.text.isEmpty { continue }
                let style = pairs[cell.role] ?? (0, 0)
                var scalars = cell.text.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
                if Self.hasSeveralSpacingCharacters(scalars) {
                    // ncurses keeps one spacing character per cell, so a flag or a ZWJ sequence
                    // would be cut apart: it gets a blank of the same width, and the cluster
                    // itself is written straight to the terminal after the update.
                    complex.append((x, y, cell))
                    // Blanks over all its columns (a skin-tone emoji may take four).
                    var column = x
                    var remaining = max(1, buffer.widths.width(of: cell.text))
                    while remaining > 0 {
                        let blank: wchar_t = remaining >= 2 ? 0x3000 : 0x20
                        _ = parla_put(Int32(y), Int32(column), [blank, 0], style.attr, style.pair)
                        column += remaining >= 2 ? 2 : 1
                        remaining -= remaining >= 2 ? 2 : 1
                    }
                    continue
                }
                scalars.append(0)
                _ = parla_put(Int32(y), Int32(x), scalars, style.attr, style.pair)
            }
        }
        if let cursor {
            curs_set(1)
            wmove(parla_stdscr(), Int32(cursor.y), Int32(cursor.x))
        } else {
            curs_set(0)
        }
        wnoutrefresh(parla_stdscr())
        doupdate()
        guard !complex.isEmpty || !buffer.links.isEmpty else { return }
        var out = ""
        for (x, y, cell) in complex {
            out += "\u{1B}[\(y + 1);\(x + 1)H" + (sgr[cell.role] ?? "\u{1B}[0m") + cell.text + "\u{1B}[0m"
        }
        out += Self.hyperlinks(buffer, sgr: sgr)
        // Back to where ncurses believes the cursor is, so its next update lines up.
        out += "\u{1B}[\(parla_physical_y() + 1);\(parla_physical_x() + 1)H"
        TerminalOutput.write(out)
    }

    /// The buffer's links written again over themselves, wrapped in OSC 8 (ncurses cannot
    /// send them). A terminal without hyperlinks ignores the wrapping and shows the same text.
    static func hyperlinks(_ buffer: ScreenBuffer, sgr: [StyleRole: String]) -> String {
        var out = ""
        for link in buffer.links {
            var role: StyleRole?
            out += "\u{1B}[\(link.y + 1);\(link.x + 1)H\u{1B}]8;;\(link.url)\u{1B}\\"
            for x in link.x..<min(buffer.width, link.x + link.width) {
                let cell = buffer[x, link.y]
                if cell.role != role {
                    role = cell.role
                    out += sgr[cell.role] ?? "\u{1B}[0m"
                }
                out += cell.text
            }
            out += "\u{1B}]8;;\u{1B}\\\u{1B}[0m"
        }
        return out
    }

    /// True for clusters such as flags (two regional indicators) and ZWJ sequences.
    static func hasSeveralSpacingCharacters(_ scalars: [wchar_t]) -> Bool {
        scalars.dropFirst().contains { parla_wcwidth($0) > 0 }
    }

    /// A style whose colours are already the terminal's (`ColorMapping.resolve`) as an SGR sequence.
    static func sgr(_ style: Theme.Style, reverseInstead: Bool) -> String {
        var codes = ["0"]
        if style.bold { codes.append("1") }
        if style.dim { codes.append("2") }
        if style.italic { codes.append("3") }
        if style.underline { codes.append("4") }
        if style.reverse || reverseInstead { codes.append("7") }
        func color(_ value: Int?, base: Int) -> String? {
            guard let value else { return nil }
            if value >= 16 { return "\(base + 8);5;\(value)" }
            return value < 8 ? "\(base + value)" : "\(base + 60 + value - 8)"
        }
        if let fg = color(style.foreground, base: 30) { codes.append(fg) }
        if let bg = color(style.background, base: 40) { codes.append(bg) }
        return "\u{1B}[" + codes.joined(separator: ";") + "m"
    }

    private var titleSet = false

    /// Sets the terminal's (or tmux pane's) title; the one from before is restored on stop.
    func setTitle(_ title: String) {
        let clean = title.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }
        Self.write("\u{1B}]2;\(String(String.UnicodeScalarView(clean)))\u{07}")
        titleSet = true
    }

    /// Bytes for the terminal itself (a notification), after ncurses' own output.
    func writeRaw(_ text: String) {
        Self.write(text)
    }

    func bell() {
        beep()
    }

    /// Paints every cell again now (sixel pictures that moved leave pixels ncurses cannot see).
    func repaintAll() {
        clearok(parla_stdscr(), true)
        wrefresh(parla_stdscr())
    }

    /// Bytes written over what ncurses drew (pictures), then the cursor back where ncurses
    /// believes it is, so its next update lines up.
    func writeOver(_ text: String) {
        guard !text.isEmpty else { return }
        Self.write(text + "\u{1B}[\(parla_physical_y() + 1);\(parla_physical_x() + 1)H")
    }

    /// Ctrl-L: throw away what ncurses thinks is on screen and paint it all again.
    func forceRedraw() {
        clearok(parla_stdscr(), true)
    }

    private static func codesetIsUTF8() -> Bool {
        guard let codeset = nl_langinfo(nl_item(CODESET)) else { return false }
        let name = String(cString: codeset).uppercased()
        return name == "UTF-8" || name == "UTF8"
    }

    private static func write(_ text: String) {
        TerminalOutput.write(text)
    }
}

/// Gives the terminal back even when the process crashes (a trap, a segfault, an
/// abort): the handler uses only async-signal-safe calls (`write`, `tcsetattr`,
/// `signal`, `raise`) with bytes prepared in advance, then lets the signal kill the
/// process as it would have. The outbox is on disk, so nothing queued is lost.
enum CrashRestore {
    static let signals = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE]
    nonisolated(unsafe) static var saved = termios()
    nonisolated(unsafe) static var reset: UnsafeMutablePointer<UInt8>?
    nonisolated(unsafe) static var resetCount = 0

    static func install() {
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return }
        // Normal attributes, bracketed paste off, main screen, cursor visible, title restored.
        let bytes = Array("\u{1B}[0m\u{1B}[?2004l\u{1B}[?1049l\u{1B}[?25h\u{1B}[23;0t\r\n".utf8)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
        buffer.initialize(from: bytes, count: bytes.count)
        reset = buffer
        resetCount = bytes.count
        for sig in signals {
            signal(sig) { number in
                if let reset = CrashRestore.reset { _ = write(STDOUT_FILENO, reset, CrashRestore.resetCount) }
                _ = tcsetattr(STDIN_FILENO, TCSANOW, &CrashRestore.saved)
                signal(number, SIG_DFL)
                raise(number)
            }
        }
    }

    static func uninstall() {
        for sig in signals { signal(sig, SIG_DFL) }
    }
}
