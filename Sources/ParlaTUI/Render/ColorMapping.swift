/// Converts theme colours to xterm-256 numbers and those to what the terminal has
/// (256, 16 or 8 colours).
enum ColorMapping {
    /// `color` as the terminal can show it: itself, or the closest of the basic 16 (or 8).
    static func nearest(_ color: Int, available: Int) -> Int {
        if color < available { return color }
        let (r, g, b) = rgb(color)
        return closest(red: r, green: g, blue: b, among: 0..<min(available, 16))
    }

    /// A theme style as the terminal can show it, colours mapped to what it has. With 8
    /// colours, the greys a 256-colour theme uses for borders, the status bar and panels
    /// all become black (or white), the same as the terminal's background: a foreground
    /// that would vanish takes the opposite basic colour, and a background that would
    /// vanish becomes reverse video, so borders, the status bar and selections stay visible.
    static func resolve(_ style: Theme.Style, colors: Int, darkBackground: Bool) -> Theme.Style {
        var resolved = style
        guard colors > 0 else {
            resolved.foreground = nil
            resolved.background = nil
            return resolved
        }
        resolved.foreground = style.foreground.map { nearest($0, available: colors) }
        resolved.background = style.background.map { nearest($0, available: colors) }
        guard colors <= 8 else { return resolved }
        let screen = darkBackground ? 0 : 7
        let opposite = darkBackground ? 7 : 0
        if let fg = style.foreground, fg != screen, resolved.foreground == screen { resolved.foreground = opposite }
        if let bg = style.background, bg != screen, resolved.background == screen {
            // Reverse video: the text's colour becomes the bar, the screen's the text.
            resolved.background = nil
            resolved.reverse.toggle()
        }
        return resolved
    }

    /// The xterm-256 colour closest to `#rrggbb` (from the 6x6x6 cube or the grey ramp).
    static func nearest256(red: Int, green: Int, blue: Int) -> Int {
        closest(red: red, green: green, blue: blue, among: 16..<256)
    }

    private static func closest(red: Int, green: Int, blue: Int, among candidates: Range<Int>) -> Int {
        var best = candidates.lowerBound
        var bestDistance = Int.max
        for index in candidates {
            let (r, g, b) = rgb(index)
            let distance = (red - r) * (red - r) + (green - g) * (green - g) + (blue - b) * (blue - b)
            if distance < bestDistance {
                best = index
                bestDistance = distance
            }
        }
        return best
    }

    /// Colour names a theme may use, as xterm numbers.
    static let names: [String: Int] = [
        "black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7,
        "gray": 8, "grey": 8, "bright_black": 8, "bright_red": 9, "bright_green": 10, "bright_yellow": 11,
        "bright_blue": 12, "bright_magenta": 13, "bright_cyan": 14, "bright_white": 15,
    ]

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
