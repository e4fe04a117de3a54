/// Text from other people as it may reach a terminal. A message is data, but a terminal
/// acts on control characters: an ESC in a peer's text could set the window title, write
/// to the clipboard (OSC 52) or move the cursor. Every C0 and C1 control character and
/// DEL becomes U+FFFD, except newline (and tab, as spaces); nothing else changes.
public enum DisplayText {
    public static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\t" {
                result.append(contentsOf: "    ".unicodeScalars)
            } else if isUnsafe(scalar) {
                result.append("\u{FFFD}")
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return (value < 0x20 && value != 0x0A) || (0x7F...0x9F).contains(value)
    }
}
