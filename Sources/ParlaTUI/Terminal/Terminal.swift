import CNcurses
import Foundation

/// The only place that talks to ncurses: it starts and restores the terminal,
/// reads raw input, and copies a `ScreenBuffer` to the screen (ncurses then sends
/// only what changed). Every call must come from the UI thread.
final class Terminal {
    private(set) var isUTF8 = true
    private var started = false
    private var pairs: [StyleRole: (attr: attr_t, pair: Int16)] = [:]

    /// Sets the locale (falling back to C.UTF-8 over SSH with LANG=C) and takes the screen.
    func start() {
        setlocale(LC_ALL, "")
        if !Self.codesetIsUTF8() {
            setlocale(LC_ALL, "C.UTF-8")
            isUTF8 = Self.codesetIsUTF8()
        }
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
        started = true
    }

    /// Gives the terminal back exactly as it was. Safe to call more than once.
    func stop() {
        guard started else { return }
        started = false
        if titleSet { Self.write("\u{1B}[23;0t") }
        Self.write("\u{1B}[?2004l")
        endwin()
    }

    var size: (width: Int, height: Int) { (Int(parla_cols()), Int(parla_lines())) }

    /// Everything typed since the last call; waits up to 30 ms for the first unit.
    func readInputs() -> (inputs: [RawInput], resized: Bool) {
        var inputs: [RawInput] = []
        var resized = false
        var ch: wint_t = 0
        while true {
            let result = parla_get(&ch)
            if result == ERR { break }
            if result == parla_key_code_yes() {
                if Int32(ch) == parla_key_resize() {
                    resized = true
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
        wtimeout(parla_stdscr(), 30)
        return (inputs, resized)
    }

    func apply(theme: Theme) {
        pairs = [:]
        let colors = has_colors() ? Int(parla_colors()) : 0
        var next: Int16 = 1
        for role in StyleRole.named + theme.senderPalette.indices.map(StyleRole.sender) {
            let style = theme.style(role)
            var attr: attr_t = 0
            if style.bold { attr |= parla_a_bold() }
            if style.dim { attr |= parla_a_dim() }
            if style.underline { attr |= parla_a_underline() }
            if style.reverse { attr |= parla_a_reverse() }
            if style.italic { attr |= parla_a_italic() }
            var pair: Int16 = 0
            if colors > 0, style.foreground != nil || style.background != nil, Int(next) < Int(parla_color_pairs()) {
                let fg = style.foreground.map { Int16(ColorMapping.nearest($0, available: colors)) } ?? -1
                let bg = style.background.map { Int16(ColorMapping.nearest($0, available: colors)) } ?? -1
                init_pair(next, fg, bg)
                pair = next
                next += 1
            } else if colors == 0, style.background != nil || role == .chatSelected || role == .statusLine {
                attr |= parla_a_reverse()
            }
            pairs[role] = (attr, pair)
        }
    }

    /// Copies the buffer into ncurses' screen and updates the terminal once.
    func draw(_ buffer: ScreenBuffer, cursor: (x: Int, y: Int)?) {
        for y in 0..<buffer.height {
            for x in 0..<buffer.width {
                let cell = buffer[x, y]
                if cell.text.isEmpty { continue }
                let style = pairs[cell.role] ?? (0, 0)
                var scalars = cell.text.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
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
    }

    private var titleSet = false

    /// Sets the terminal's (or tmux pane's) title; the one from before is restored on stop.
    func setTitle(_ title: String) {
        let clean = title.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }
        Self.write("\u{1B}]2;\(String(String.UnicodeScalarView(clean)))\u{07}")
        titleSet = true
    }

    func bell() {
        beep()
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
