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
        Self.write("\u{1B}[?2004h") // bracketed paste
        started = true
    }

    /// Gives the terminal back exactly as it was. Safe to call more than once.
    func stop() {
        guard started else { return }
        started = false
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
        for role in StyleRole.allCases {
            let style = theme.style(role)
            var attr: attr_t = 0
            if style.bold { attr |= parla_a_bold() }
            if style.dim { attr |= parla_a_dim() }
            if style.underline { attr |= parla_a_underline() }
            if style.reverse { attr |= parla_a_reverse() }
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
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Maps xterm-256 colour numbers to what the terminal has (256, 16 or 8 colours).
enum ColorMapping {
    static func nearest(_ color: Int, available: Int) -> Int {
        if color < available { return color }
        let (r, g, b) = rgb(color)
        let candidates = min(available, 16)
        var best = 0
        var bestDistance = Int.max
        for index in 0..<candidates {
            let (cr, cg, cb) = rgb(index)
            let distance = (r - cr) * (r - cr) + (g - cg) * (g - cg) + (b - cb) * (b - cb)
            if distance < bestDistance {
                best = index
                bestDistance = distance
            }
        }
        return best
    }

    static func rgb(_ color: Int) -> (Int, Int, Int) {
        let basic = [(0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
                     (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255)]
        if color < 16 { return basic[color] }
        if color < 232 {
            let index = color - 16
            let levels = [0, 95, 135, 175, 215, 255]
            return (levels[index / 36], levels[(index / 6) % 6], levels[index % 6])
        }
        let gray = 8 + (color - 232) * 10
        return (gray, gray, gray)
    }
}
