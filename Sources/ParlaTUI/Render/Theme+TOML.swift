extension Theme {
    /// Reads a theme file. `base` resolves the optional `base = "NAME"` key (roles the
    /// file does not mention come from that theme); errors name the file, line and key.
    public static func parse(_ text: String, name: String, file: String,
                             base: (String) throws(TOMLError) -> Theme? = { _ in nil }) throws(TOMLError) -> Theme {
        let document = try TOMLDocument.parse(text, file: file)
        var theme = Theme(name: name, styles: [:])
        func fail(_ line: Int, _ key: String, _ message: String) -> TOMLError {
            TOMLError(file: file, line: line, message: "key '\(key)': \(message)")
        }
        if let baseValue = document["base"] {
            guard case .string(let baseName) = baseValue.kind else { throw fail(baseValue.line, "base", "must be a theme name in quotes") }
            guard let found = try base(baseName) else { throw fail(baseValue.line, "base", "no theme named '\(baseName)'") }
            theme.styles = found.styles
            theme.senderPalette = found.senderPalette
            theme.darkBackground = found.darkBackground
        }
        for (key, value) in document.entries {
            switch key {
            case "base", "description":
                guard case .string = value.kind else { throw fail(value.line, key, "must be a string") }
            case "background":
                guard case .string(let shade) = value.kind, shade == "dark" || shade == "light" else {
                    throw fail(value.line, key, "must be \"dark\" or \"light\"")
                }
                theme.darkBackground = shade == "dark"
            case "styles":
                guard case .table(let table) = value.kind else { throw fail(value.line, key, "must be a table: [styles]") }
                for (roleKey, styleValue) in table.entries {
                    let path = "styles.\(roleKey)"
                    guard let role = StyleRole.named.first(where: { $0.key == roleKey }) else {
                        throw fail(styleValue.line, path, "unknown role; roles are \(StyleRole.named.map(\.key).joined(separator: ", "))")
                    }
                    theme.styles[role] = try style(styleValue, path: path, fail: fail)
                }
            case "senders":
                guard case .table(let table) = value.kind else { throw fail(value.line, key, "must be a table: [senders]") }
                for (senderKey, senderValue) in table.entries {
                    let path = "senders.\(senderKey)"
                    guard senderKey == "palette" else { throw fail(senderValue.line, path, "unknown key; [senders] has only 'palette'") }
                    guard case .array(let items) = senderValue.kind else { throw fail(senderValue.line, path, "must be a list of colours") }
                    theme.senderPalette = try items.map { item throws(TOMLError) in
                        guard let colour = try color(item, path: path, fail: fail) else {
                            throw fail(item.line, path, "'default' cannot be a sender colour")
                        }
                        return colour
                    }
                }
            default:
                throw fail(value.line, key, "unknown key; a theme has base, description, background, [styles] and [senders]")
            }
        }
        return theme
    }

    private static func style(_ value: TOMLValue, path: String, fail: (Int, String, String) -> TOMLError) throws(TOMLError) -> Style {
        guard case .table(let table) = value.kind else {
            throw fail(value.line, path, "must be a table, e.g. { fg = 117, bold = true }")
        }
        var style = Style()
        for (attribute, item) in table.entries {
            let key = "\(path).\(attribute)"
            switch attribute {
            case "fg": style.foreground = try color(item, path: key, fail: fail)
            case "bg": style.background = try color(item, path: key, fail: fail)
            case "bold", "dim", "underline", "reverse", "italic":
                guard case .bool(let on) = item.kind else { throw fail(item.line, key, "must be true or false, not \(item.typeName)") }
                switch attribute {
                case "bold": style.bold = on
                case "dim": style.dim = on
                case "underline": style.underline = on
                case "reverse": style.reverse = on
                default: style.italic = on
                }
            default:
                throw fail(item.line, key, "unknown attribute; use fg, bg, bold, dim, underline, reverse, italic")
            }
        }
        return style
    }

    /// A colour: a name, 0-255, or "#rrggbb" (mapped to the nearest of the 256). Nil is "default".
    private static func color(_ value: TOMLValue, path: String, fail: (Int, String, String) -> TOMLError) throws(TOMLError) -> Int? {
        let help = "use a colour name (red, bright_blue, …, default), a number 0-255 or \"#rrggbb\""
        switch value.kind {
        case .integer(let number):
            guard (0...255).contains(number) else { throw fail(value.line, path, "\(number) is out of range; \(help)") }
            return number
        case .string(let text):
            let lowered = text.lowercased()
            if lowered == "default" || lowered == "none" { return nil }
            if let number = ColorMapping.names[lowered.replacingOccurrences(of: "-", with: "_")] { return number }
            if lowered.hasPrefix("#"), lowered.count == 7, let rgb = Int(lowered.dropFirst(), radix: 16) {
                return ColorMapping.nearest256(red: rgb >> 16, green: (rgb >> 8) & 0xFF, blue: rgb & 0xFF)
            }
            throw fail(value.line, path, "unknown colour '\(text)'; \(help)")
        default:
            throw fail(value.line, path, "\(value.typeName) is not a colour; \(help)")
        }
    }
}
