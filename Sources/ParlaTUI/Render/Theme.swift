/// Colours and attributes for each style role. The renderer only assigns roles;
/// the terminal layer asks the theme how a role looks.
public struct Theme: Sendable, Equatable {
    public struct Style: Sendable, Equatable {
        /// xterm-256 colour numbers; nil is the terminal's own colour.
        public var foreground: Int?
        public var background: Int?
        public var bold = false
        public var dim = false
        public var underline = false
        public var reverse = false
        public var italic = false

        public init(foreground: Int? = nil, background: Int? = nil, bold: Bool = false, dim: Bool = false,
                    underline: Bool = false, reverse: Bool = false, italic: Bool = false) {
            self.foreground = foreground
            self.background = background
            self.bold = bold
            self.dim = dim
            self.underline = underline
            self.reverse = reverse
            self.italic = italic
        }
    }

    public var name: String
    public var styles: [StyleRole: Style]
    /// Colours for other people's names, picked per name so each person keeps one.
    public var senderPalette: [Int]
    /// Draw with ASCII substitutes (for terminals whose locale is not UTF-8).
    public var ascii = false
    /// Made for a dark terminal background (`background = "light"` in the file says otherwise);
    /// with 8 colours this decides which colour is the screen's own.
    public var darkBackground = true

    public init(name: String, styles: [StyleRole: Style], senderPalette: [Int] = [], ascii: Bool = false) {
        self.name = name
        self.styles = styles
        self.senderPalette = senderPalette
        self.ascii = ascii
    }

    public func style(_ role: StyleRole) -> Style {
        guard case .sender(let index) = role else { return styles[role] ?? Style() }
        var style = styles[.senderName] ?? Style()
        if !senderPalette.isEmpty { style.foreground = senderPalette[index % senderPalette.count] }
        return style
    }

    /// The role for `name`'s sender label: a stable palette slot (the same on every
    /// run and machine, unlike `hashValue`).
    public func senderRole(for name: String) -> StyleRole {
        guard !senderPalette.isEmpty else { return .senderName }
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return .sender(Int(hash % UInt32(senderPalette.count)))
    }

    /// The built-in dark theme (xterm-256 colour numbers); `themes/default.toml` says the same.
    public static let `default` = Theme(name: "default", styles: [
        .border: Style(foreground: 240), .title: Style(foreground: 252, bold: true),
        .chatSelected: Style(foreground: 231, background: 24, bold: true), .chatUnread: Style(foreground: 222, bold: true),
        .ownMessage: Style(foreground: 252), .otherMessage: Style(foreground: 255),
        .senderName: Style(foreground: 117, bold: true), .time: Style(foreground: 244),
        .tickQueued: Style(foreground: 244), .tickSent: Style(foreground: 250), .tickDelivered: Style(foreground: 250),
        .tickRead: Style(foreground: 81, bold: true), .tickFailed: Style(foreground: 203, bold: true),
        .input: Style(foreground: 255), .statusLine: Style(foreground: 252, background: 236),
        .separator: Style(foreground: 242), .unreadSeparator: Style(foreground: 222), .notice: Style(foreground: 222, bold: true),
        .help: Style(foreground: 255, background: 237), .highlight: Style(foreground: 231, background: 58),
    ], senderPalette: [117, 150, 180, 215, 141, 210, 79, 222])

    /// No colours at all: attributes only (for NO_COLOR and monochrome terminals).
    public static let mono = Theme(name: "mono", styles: [
        .title: Style(bold: true), .chatSelected: Style(reverse: true), .chatUnread: Style(bold: true),
        .senderName: Style(bold: true), .time: Style(dim: true), .tickRead: Style(bold: true), .tickFailed: Style(bold: true, underline: true),
        .statusLine: Style(reverse: true), .separator: Style(dim: true), .notice: Style(bold: true), .help: Style(reverse: true),
        .highlight: Style(underline: true),
    ])
}
