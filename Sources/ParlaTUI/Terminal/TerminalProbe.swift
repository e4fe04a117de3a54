import Foundation

/// Measures how wide the terminal really draws the clusters terminals disagree on:
/// print each after a carriage return, ask for the cursor position (`ESC[6n`) and
/// read the answer. Runs before ncurses takes the screen; a terminal that does not
/// answer within the timeout leaves the Unicode defaults in place.
public enum TerminalProbe {
    public static let samples: [(name: String, cluster: String)] = [
        ("variation-selector emoji", "\u{2764}\u{FE0F}"),
        ("ZWJ sequence", "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}"),
        ("flag", "\u{1F1EE}\u{1F1F9}"),
        ("skin-tone emoji", "\u{1F44D}\u{1F3FD}"),
    ]

    /// Widths measured on the controlling terminal, or nil if it is not a terminal or did not answer.
    public static func measure(timeoutMilliseconds: Int32 = 200) -> DisplayWidth? {
        withRawInput { measureWidths(timeoutMilliseconds: timeoutMilliseconds) } ?? nil
    }

    /// Runs `body` with the terminal's echo and line editing off (so answers can be read byte
    /// by byte and are not shown), restoring them after; nil if this is not a terminal.
    private static func withRawInput<T>(_ body: () -> T) -> T? {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else { return nil }
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return nil }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        defer { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
        return body()
    }

    private static func measureWidths(timeoutMilliseconds: Int32) -> DisplayWidth? {
        defer { write("\r\u{1B}[K") }
        var measured: [Int] = []
        for sample in samples {
            write("\r" + sample.cluster + "\u{1B}[6n")
            guard let column = readCursorColumn(timeoutMilliseconds: timeoutMilliseconds) else { return nil }
            // A terminal that draws a sequence's parts apart can take up to two emoji's room.
            measured.append(max(1, min(4, column - 1)))
        }
        return DisplayWidth(variationSelectorEmoji: measured[0], zwjSequence: measured[1], flag: measured[2], skinTone: measured[3])
    }

    /// Which pictures the terminal draws, and how many pixels a cell is: a kitty graphics
    /// query (a 1x1 image it only checks), the cell size (`CSI 16 t`), then "who are you"
    /// (DA1), which every terminal answers; a kitty answer before it means kitty graphics, a
    /// 4 among DA1's attributes means sixel. A terminal that does not tell its cell size may
    /// still give the window's pixels to `TIOCGWINSZ`.
    public static func graphics(timeoutMilliseconds: Int32 = 200) -> (graphics: ImagePreview.Graphics?, cell: (width: Int, height: Int)?) {
        guard let bytes = withRawInput({ askGraphics(timeoutMilliseconds: timeoutMilliseconds) }) else { return (nil, nil) }
        return (parseGraphicsReply(bytes), parseCellSize(bytes) ?? windowCellSize())
    }

    private static func askGraphics(timeoutMilliseconds: Int32) -> [UInt8] {
        write("\u{1B}_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\u{1B}\\\u{1B}[16t\u{1B}[c")
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        while Date() < deadline, bytes.count < 256 {
            var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) > 0 else { break }
            var byte: UInt8 = 0
            guard read(STDIN_FILENO, &byte, 1) == 1 else { break }
            bytes.append(byte)
            if byte == UInt8(ascii: "c"), String(decoding: bytes, as: UTF8.self).contains("\u{1B}[?") { break }
        }
        return bytes
    }

    /// Reads `ESC [ 6 ; height ; width t`, the cell size in pixels.
    static func parseCellSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let start = text.range(of: "\u{1B}[6;"), let end = text[start.upperBound...].firstIndex(of: "t") else { return nil }
        let parts = text[start.upperBound..<end].split(separator: ";").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { return nil }
        return (parts[1], parts[0])
    }

    private static func windowCellSize() -> (width: Int, height: Int)? {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0, size.ws_xpixel > 0, size.ws_ypixel > 0 else { return nil }
        return (Int(size.ws_xpixel) / Int(size.ws_col), Int(size.ws_ypixel) / Int(size.ws_row))
    }

    /// Reads the answers to `graphics()`'s two questions.
    static func parseGraphicsReply(_ bytes: [UInt8]) -> ImagePreview.Graphics? {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("\u{1B}_Gi=31;OK") { return .kitty }
        guard let start = text.range(of: "\u{1B}[?"), let end = text[start.upperBound...].firstIndex(of: "c") else { return nil }
        let attributes = text[start.upperBound..<end].split(separator: ";")
        return attributes.dropFirst().contains("4") ? .sixel : nil
    }

    /// Parses `ESC [ row ; col R`.
    static func parseCursorReport(_ bytes: [UInt8]) -> Int? {
        guard let start = bytes.lastIndex(of: 0x1B) else { return nil }
        let text = String(decoding: bytes[start...], as: UTF8.self)
        guard text.hasPrefix("\u{1B}["), text.hasSuffix("R") else { return nil }
        let parts = text.dropFirst(2).dropLast().split(separator: ";")
        guard parts.count == 2, let column = Int(parts[1]) else { return nil }
        return column
    }

    private static func readCursorColumn(timeoutMilliseconds: Int32) -> Int? {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            let remaining = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&descriptor, 1, remaining) > 0 else { return nil }
            var byte: UInt8 = 0
            guard read(STDIN_FILENO, &byte, 1) == 1 else { return nil }
            bytes.append(byte)
            if byte == UInt8(ascii: "R"), let column = parseCursorReport(bytes) { return column }
            if bytes.count > 64 { return nil }
        }
        return nil
    }

    private static func write(_ text: String) {
        TerminalOutput.write(text)
    }
}
