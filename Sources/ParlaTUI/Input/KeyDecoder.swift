/// One unit read from the terminal: a character, or a key code ncurses recognised
/// (with its terminfo name, e.g. "kUP3" for Alt-Up).
public enum RawInput: Sendable, Equatable {
    case character(UInt32)
    case keyCode(Int32, name: String)
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
                if matches(inputs, at: i, "[1;3A") { i += 5; keys.append(.altUp); continue }
                if matches(inputs, at: i, "[1;3B") { i += 5; keys.append(.altDown); continue }
                if matches(inputs, at: i, "[1;5A") { i += 5; keys.append(.ctrlUp); continue }
                if matches(inputs, at: i, "[1;5B") { i += 5; keys.append(.ctrlDown); continue }
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
            case .character(let c):
                keys.append(Self.key(forCharacter: c))
            }
        }
        return keys
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
        default: break
        }
        switch code {
        case 0o403: return .up
        case 0o402: return .down
        case 0o404: return .left
        case 0o405: return .right
        case 0o406: return .home
        case 0o550: return .end
        case 0o523: return .pageDown
        case 0o522: return .pageUp
        case 0o407: return .backspace
        case 0o512: return .delete
        case 0o527: return .enter
        case 0o411: return .f1
        default: return nil
        }
    }
}
