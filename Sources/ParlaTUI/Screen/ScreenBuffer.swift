import ParlaClient

/// What a piece of text is, so a theme can colour it.
public enum StyleRole: Sendable, Hashable {
    case normal, border, title
    case chatNormal, chatSelected, chatUnread
    case ownMessage, otherMessage, senderName, time
    case tickQueued, tickSent, tickDelivered, tickRead, tickFailed
    case input, statusLine, separator, unreadSeparator, notice, help
    /// The message a search jumped to.
    case highlight
    /// Another person's name, coloured from the theme's sender palette (index into it).
    case sender(Int)

    /// Every role but the palette entries, in the order themes list them.
    public static let named: [StyleRole] = [
        .normal, .border, .title, .chatNormal, .chatSelected, .chatUnread, .ownMessage, .otherMessage, .senderName, .time,
        .tickQueued, .tickSent, .tickDelivered, .tickRead, .tickFailed, .input, .statusLine, .separator, .unreadSeparator,
        .notice, .help, .highlight,
    ]

    /// The role's key in a theme file, e.g. `chat_selected`.
    public var key: String {
        if case .sender(let index) = self { return "sender_\(index)" }
        let name = String(describing: self)
        return name.reduce(into: "") { result, c in
            if c.isUppercase { result += "_" + c.lowercased() } else { result.append(c) }
        }
    }
}

/// One screen column: the grapheme drawn there (empty for the second column of a
/// wide character) and its style.
public struct Cell: Sendable, Equatable {
    public var text: String
    public var role: StyleRole

    public static let blank = Cell(text: " ", role: .normal)
    /// The right half of a wide character: nothing is drawn there.
    public static func continuation(_ role: StyleRole) -> Cell { Cell(text: "", role: role) }
}

/// Columns of one row that link to a URL.
public struct Hyperlink: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var url: String
}

/// Blank cells kept for a picture, which the terminal layer draws over them with the
/// terminal's graphics (ncurses only knows the blanks).
public struct PicturePlacement: Sendable, Hashable {
    public var x: Int
    public var y: Int
    public var columns: Int
    public var rows: Int
    public var path: String
}

/// The whole screen as a grid of cells: what `render` produces and the terminal
/// layer copies out. Plain data, so tests compare it as text.
public struct ScreenBuffer: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]
    public let widths: DisplayWidth
    /// Runs of cells that are a hyperlink (the terminal layer writes them as OSC 8).
    public private(set) var links: [Hyperlink] = []
    /// Pictures shown inside the screen (the terminal layer draws them over their cells).
    public private(set) var pictures: [PicturePlacement] = []

    public init(width: Int, height: Int, widths: DisplayWidth = DisplayWidth()) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.widths = widths
        self.cells = Array(repeating: .blank, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        cells[y * width + x]
    }

    /// Writes `text` from column `x` on row `y`, clipped at `x + maxWidth` and the
    /// screen edge. A wide character that would not fit whole is replaced by spaces.
    /// Returns the number of columns written.
    @discardableResult
    public mutating func put(_ raw: String, x: Int, y: Int, role: StyleRole, maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < height, x < width else { return 0 }
        // Nothing drawn may carry a control character: the terminal would act on it.
        let text = DisplayText.safe(raw)
        let limit = min(width, x + (maxWidth ?? width))
        var column = x
        for character in text {
            let w = widths.width(of: character)
            if w == 0 {
                // Stray zero-width cluster: attach it to the previous cell.
                if column > x, column - 1 >= 0 { cells[y * width + column - 1].text.append(character) }
                continue
            }
            if column + w > limit {
                while column < limit {
                    if column >= 0 { cells[y * width + column] = Cell(text: " ", role: role) }
                    column += 1
                }
                break
            }
            if column >= 0 {
                for offset in 0..<w { clearWide(at: column + offset, y: y) }
                cells[y * width + column] = Cell(text: String(character), role: role)
                for offset in 1..<w { cells[y * width + column + offset] = .continuation(role) }
            }
            column += w
        }
        return column - x
    }

    /// Fills a rectangle with spaces of one role.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, role: StyleRole) {
        // What is painted over is no longer a link.
        links.removeAll { $0.y >= y && $0.y < y + h && $0.x < x + w && $0.x + $0.width > x }
        pictures.removeAll { $0.y < y + h && $0.y + $0.rows > y && $0.x < x + w && $0.x + $0.columns > x }
        for row in max(0, y)..<min(height, y + h) {
            for column in max(0, x)..<min(width, x + w) {
                cells[row * width + column] = Cell(text: " ", role: role)
            }
        }
    }

    /// Overwriting part of a wide character blanks the rest of it, so nothing shifts.
    private mutating func clearWide(at column: Int, y: Int) {
        guard column < width else { return }
        // Back to the character this cell belongs to, then blank all of it.
        var owner = column
        while owner > 0, cells[y * width + owner].text.isEmpty { owner -= 1 }
        let ownerWidth = widths.width(of: cells[y * width + owner].text)
        guard owner < column || ownerWidth > 1 else { return }
        let role = cells[y * width + owner].role
        for c in owner..<min(width, owner + max(1, ownerWidth)) {
            cells[y * width + c] = Cell(text: " ", role: role)
        }
    }

    /// Marks `width` columns from `x` on row `y` as a link to `url`.
    public mutating func link(x: Int, y: Int, width: Int, url: String) {
        let clipped = min(width, self.width - x)
        guard y >= 0, y < height, x >= 0, clipped > 0 else { return }
        links.append(Hyperlink(x: x, y: y, width: clipped, url: url))
    }

    /// Keeps `columns` x `rows` cells from (`x`, `y`) for the picture at `path` (only whole,
    /// inside the screen).
    public mutating func picture(x: Int, y: Int, columns: Int, rows: Int, path: String) {
        guard x >= 0, y >= 0, columns > 0, rows > 0, x + columns <= width, y + rows <= height else { return }
        pictures.append(PicturePlacement(x: x, y: y, columns: columns, rows: rows, path: path))
    }

    /// One row as the terminal would show it.
    public func row(_ y: Int) -> String {
        (0..<width).map { self[$0, y].text }.joined()
    }

    /// The whole screen as text, rows joined by newlines, trailing spaces kept.
    public var text: String {
        (0..<height).map(row).joined(separator: "\n")
    }
}
