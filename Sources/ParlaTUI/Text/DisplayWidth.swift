/// How many terminal columns a grapheme cluster takes. Defaults come from the
/// Unicode data (East Asian Width, emoji presentation, combining marks); the
/// classes terminals disagree on can be overridden with what the terminal in
/// front of the user actually does (measured at start-up).
public struct DisplayWidth: Sendable, Equatable {
    /// Width of an emoji made text-default then forced by VS16 (❤️ = U+2764 U+FE0F). tmux 3.3a: 1; many GUI terminals: 2.
    public var variationSelectorEmoji: Int = 2
    /// Width of a ZWJ sequence (👨‍👩‍👧). tmux 3.3a: 2.
    public var zwjSequence: Int = 2
    /// Width of a regional-indicator flag (🇮🇹). tmux 3.3a: 2.
    public var flag: Int = 2
    /// Width of an emoji with a skin-tone modifier (👍🏽). tmux 3.3a draws the two emoji apart: 4.
    public var skinTone: Int = 2

    public init(variationSelectorEmoji: Int = 2, zwjSequence: Int = 2, flag: Int = 2, skinTone: Int = 2) {
        self.variationSelectorEmoji = variationSelectorEmoji
        self.zwjSequence = zwjSequence
        self.flag = flag
        self.skinTone = skinTone
    }

    public func width(of character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if scalars.count == 1 { return Self.scalarWidth(first) }
        if scalars.contains(where: { $0.value == 0x200D }) && scalars.contains(where: { $0.properties.isEmoji }) {
            return zwjSequence
        }
        if (0x1F1E6...0x1F1FF).contains(first.value) { return flag }
        if scalars.contains(where: { $0.value == 0xFE0F }) && first.properties.isEmoji && !first.properties.isEmojiPresentation {
            return variationSelectorEmoji
        }
        if scalars.contains(where: { (0x1F3FB...0x1F3FF).contains($0.value) }) { return skinTone }
        // A base with combining marks or VS15: the base decides.
        return Self.scalarWidth(first)
    }

    public func width(of text: some StringProtocol) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    static func scalarWidth(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v == 0 { return 0 }
        if v < 0x20 || (0x7F..<0xA0).contains(v) { return 0 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if v == 0x200B || (0x1160...0x11FF).contains(v) { return 0 }
        if scalar.properties.isEmojiPresentation { return 2 }
        return isEastAsianWide(v) ? 2 : 1
    }

    /// East Asian Wide (W) and Fullwidth (F) ranges (Unicode 15, EastAsianWidth.txt), grouped.
    static func isEastAsianWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0, 0x23F3,
             0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F, 0x2693, 0x26A1, 0x26AA...0x26AB,
             0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2...0x26F3, 0x26F5, 0x26FA,
             0x26FD, 0x2705, 0x270A...0x270B, 0x2728, 0x274C, 0x274E, 0x2753...0x2755, 0x2757,
             0x2795...0x2797, 0x27B0, 0x27BF, 0x2B1B...0x2B1C, 0x2B50, 0x2B55,
             0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
             0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4, 0x17000...0x18CFF, 0x1AFF0...0x1B2FF,
             0x1F004, 0x1F0CF, 0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F251, 0x1F260...0x1F265,
             0x1F300...0x1F64F, 0x1F680...0x1F6FF, 0x1F7E0...0x1F7EB, 0x1F90C...0x1F9FF,
             0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            // Within the emoji blocks only emoji-presentation scalars are wide; text-default symbols are not.
            if (0x1F300...0x1FAFF).contains(v) {
                return Unicode.Scalar(v)?.properties.isEmojiPresentation ?? false
            }
            return true
        default:
            return false
        }
    }
}
