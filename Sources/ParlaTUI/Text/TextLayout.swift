/// Wrapping and truncation by display columns, one grapheme cluster at a time, so a
/// line never splits a character and never runs past its width.
public struct TextLayout: Sendable {
    public let widths: DisplayWidth

    public init(widths: DisplayWidth = DisplayWidth()) {
        self.widths = widths
    }

    /// Breaks `text` into lines of at most `width` columns, preferring to break after
    /// spaces; explicit newlines are kept. A cluster wider than `width` gets a line of its own.
    public func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(contentsOf: wrapParagraph(Array(paragraph), width: width))
        }
        return lines
    }

    private func wrapParagraph(_ chars: [Character], width: Int) -> [String] {
        if chars.isEmpty { return [""] }
        var lines: [String] = []
        var start = 0
        while start < chars.count {
            var columns = 0
            var end = start
            var lastBreak: Int?
            while end < chars.count {
                let w = widths.width(of: chars[end])
                if columns + w > width && end > start { break }
                columns += w
                if chars[end] == " " { lastBreak = end }
                end += 1
            }
            if end < chars.count, chars[end] == " " {
                // The line is full right before a space: break there.
                lines.append(String(chars[start..<end]))
                start = end + 1
            } else if end < chars.count, let lastBreak, lastBreak > start {
                lines.append(String(chars[start..<lastBreak]))
                start = lastBreak + 1
            } else {
                lines.append(String(chars[start..<end]))
                start = end
                // A soft break right at a space: do not start the next line with it.
                if start < chars.count, chars[start] == " " { start += 1 }
            }
        }
        return lines
    }

    /// Cuts `text` to `width` columns, ending with "…" when something was cut.
    public func truncate(_ text: String, width: Int) -> String {
        guard width > 0 else { return "" }
        if widths.width(of: text) <= width { return text }
        var result = ""
        var columns = 0
        for character in text {
            let w = widths.width(of: character)
            if columns + w > width - 1 { break }
            result.append(character)
            columns += w
        }
        return result + "…"
    }

    /// Pads with spaces to exactly `width` columns (truncating first if needed).
    public func fit(_ text: String, width: Int) -> String {
        let cut = truncate(text, width: width)
        return cut + String(repeating: " ", count: max(0, width - widths.width(of: cut)))
    }
}
