/// One unit read from the terminal: a character, or a key code ncurses recognised
/// (with its terminfo name, e.g. "kUP3" for Alt-Up).
public enum RawInput: Sendable, Equatable {
    case character(UInt32)
    case keyCode(Int32, name: String)
    /// A turn of the mouse wheel that ncurses decoded (negative: up).
    case wheel(Int)
}

/// Turns raw terminal input into keys: control characters, Alt as an ESC prefix,
/// bracketed paste (`ESC [200~ … ESC [201~`) as one block. Pure, so every sequence is tested.
public struct KeyDecoder: Sendable {
    private var pasting = false
    private var pasteBuffer = ""

    public init() {}

    /// Decodes everything that arrived together. An ESC at the very end of a batch is a plain Escape.
    public mutating func decode(_ inputs: [RawInput]) -> [Key] {
        var keys: [Key] = []
        var i = 0
        while i < inputs.count {
            let input = inputs[i]
            i += 1
            if pasting {
                if case .character(27) = input, matches(inputs, at: i, "[201~") {
                    i += 5
                    pasting = false
                    keys.append(.paste(pasteBuffer))
                    pasteBuffer = ""
                } else if case .character(let c) = input, let scalar = Unicode.Scalar(c) {
                    pasteBuffer.unicodeScalars.append(scalar == "\r" ? "\n" : scalar)
                }
                continue
            }
            switch input {
            case .keyCode(let code, let name):
                if let key = Self.key(forCode: code, name: name) { keys.append(key) }
            case .character(27):
                guard i < inputs.count else {
                    keys.append(.escape)
                    continue
                }
                if matches(inputs, at: i, "[200~") {
                    i += 5
                    pasting = true
                    continue
                }
                if case .character(let next) = inputs[i], next == 0x5B || next == 0x4F {
                    // CSI or SS3: the whole sequence is one key, or nothing (never junk typed in).
                    let (key, length) = Self.escapeSequence(inputs, from: i)
                    if length > 0 {
                        i += length
                        if let key { keys.append(key) }
                        continue
                    }
                }
                if case .character(let next) = inputs[i] {
                    i += 1
                    switch next {
                    case 13, 10: keys.append(.altEnter)
                    default:
                        if let scalar = Unicode.Scalar(next) { keys.append(.alt(Character(scalar))) }
                    }
                } else if case .keyCode(let code, let name) = inputs[i] {
                    i += 1
                    if let key = Self.key(forCode: code, name: name) {
                        keys.append(key == .up ? .altUp : key == .down ? .altDown : key)
                    }
                }
            case .wheel(let notches):
                keys.append(notches < 0 ? .wheelUp : .wheelDown)
            case .character(let c):
                keys.append(Self.key(forCharacter: c))
            }
        }
        return keys
    }

    /// An escape sequence after ESC at `start` ("[" or "O" there): the key it means, if
    /// any, and how many inputs it took (0: not a complete sequence, so ESC is Alt).
    static func escapeSequence(_ inputs: [RawInput], from start: Int) -> (Key?, Int) {
        var bytes: [UInt32] = []
        var index = start
        while index < inputs.count, case .character(let c) = inputs[index], bytes.count < 32 {
            bytes.append(c)
            index += 1
            if bytes.count == 1 { continue }
            if bytes[0] == 0x4F {
                // SS3 has one final character: ESC O P is F1, ESC O A an arrow.
                let ss3: [UInt32: Key] = [0x50: .f1, 0x41: .up, 0x42: .down, 0x43: .right, 0x44: .left, 0x48: .home, 0x46: .end, 0x4D: .enter]
                return (ss3[c], 2)
            }
            // The Linux console's F1-F5 are ESC [ [ A-E.
            if bytes == [0x5B, 0x5B] { continue }
            if bytes.count == 3, bytes[1] == 0x5B { return (c == 0x41 ? .f1 : nil, 3) }
            // CSI: parameters and intermediates (0x20-0x3F), then one final byte (0x40-0x7E).
            if (0x40...0x7E).contains(c) { return (csiKey(bytes), bytes.count) }
            if !(0x20...0x3F).contains(c) { return (nil, 0) }
        }
        return (nil, 0)
    }

    private static func csiKey(_ bytes: [UInt32]) -> Key? {
        let text = String(String.UnicodeScalarView(bytes.dropFirst().compactMap(Unicode.Scalar.init)))
        // SGR mouse reports: "<64;x;yM" is the wheel up, "<65;…" down; clicks are ignored.
        if text.hasPrefix("<"), text.last == "M" || text.last == "m" {
            let button = Int(text.dropFirst().split(separator: ";").first ?? "") ?? -1
            if text.last == "M", button & ~0x1C == 64 { return .wheelUp }
            if text.last == "M", button & ~0x1C == 65 { return .wheelDown }
            return nil
        }
        let known: [String: Key] = [
            "A": .up, "B": .down, "C": .right, "D": .left, "H": .home, "F": .end, "Z": .tab,
            "1;3A": .altUp, "1;3B": .altDown, "1;5A": .ctrlUp, "1;5B": .ctrlDown,
            "1;5H": .ctrlHome, "1;5F": .ctrlEnd, "1;3H": .ctrlHome, "1;3F": .ctrlEnd,
            "1~": .home, "7~": .home, "4~": .end, "8~": .end, "3~": .delete, "5~": .pageUp, "6~": .pageDown,
            "1;5C": .alt("f"), "1;5D": .alt("b"), "1;3C": .alt("f"), "1;3D": .alt("b"),
            "11~": .f1,
        ]
        return known[text]
    }

    private func matches(_ inputs: [RawInput], at index: Int, _ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        guard index + scalars.count <= inputs.count else { return false }
        for (offset, scalar) in scalars.enumerated() {
            guard case .character(let c) = inputs[index + offset], c == scalar.value else { return false }
        }
        return true
    }

    static func key(forCharacter c: UInt32) -> Key {
        switch c {
        case 13: return .enter
        case 9: return .tab
        case 8, 127: return .backspace
        case 1...26: return .ctrl(Character(Unicode.Scalar(c + 96)!))
        default:
            guard let scalar = Unicode.Scalar(c) else { return .character("?") }
            return .character(Character(scalar))
        }
    }

    /// ncurses key codes (see curses.h) and extended names from terminfo.
    static func key(forCode code: Int32, name: String) -> Key? {
        switch name {
        case "kUP3": return .altUp
        case "kDN3": return .altDown
        case "kUP5": return .ctrlUp
        case "kDN5": return .ctrlDown
        case "kHOM5", "kHOM3": return .ctrlHome
        case "kEND5", "kEND3": return .ctrlEnd
        case "kRIT5", "kRIT3": return .alt("f")
        case "kLFT5", "kLFT3": return .alt("b")
        default: break
        }
        switch code {
        case 0o403: return .up
        case 0o402: return .down
        case 0o404: return .left
        case 0o405: return .right
        case 0o406: return .home
        case 0o550: return .end
        case 0o522: return .pageDown // KEY_NPAGE, "next page"
        case 0o523: return .pageUp // KEY_PPAGE
        case 0o535: return .home // KEY_A1 (keypad)
        case 0o540: return .end // KEY_C1
        case 0o407: return .backspace
        case 0o512: return .delete
        case 0o527: return .enter
        case 0o411: return .f1
        default: return nil
        }
    }
}
