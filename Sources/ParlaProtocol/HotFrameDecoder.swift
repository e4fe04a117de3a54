import Foundation

/// Decodes the two frames a busy client sends most — `send` and `confirm` — straight from
/// their bytes, since a `JSONDecoder` per frame was about a tenth of the relay's CPU. It
/// takes only the plain shape (string values without escapes, no other keys, each key
/// once) and answers nil for anything else, which the full decoder then handles, errors
/// included. A test checks that whatever it accepts decodes to the same frame both ways.
enum HotFrameDecoder {
    static func decode(_ text: String) -> ClientFrame? {
        var text = text
        return text.withUTF8 { bytes in
            var scanner = Scanner(bytes: bytes)
            return scanner.frame()
        }
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func frame() -> ClientFrame? {
            var type: String?, id: String?, to: String?, body: String?, ids: [String]?
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                // Each key once, each value a plain string (an array of them for "ids"); anything else falls back.
                switch key {
                case "type" where type == nil: guard let value = string() else { return nil }; type = value
                case "id" where id == nil: guard let value = string() else { return nil }; id = value
                case "to" where to == nil: guard let value = string() else { return nil }; to = value
                case "body" where body == nil: guard let value = string() else { return nil }; body = value
                case "ids" where ids == nil: guard let value = strings() else { return nil }; ids = value
                default: return nil
                }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
            skipSpace()
            guard index == bytes.count else { return nil }
            switch type {
            case "send":
                guard let id, let to, let body, ids == nil, let data = Data(base64Encoded: body) else { return nil }
                return .send(.init(id: id, to: to, body: data))
            case "confirm":
                guard let ids, id == nil, to == nil, body == nil else { return nil }
                return .confirm(.init(ids: ids))
            default:
                return nil
            }
        }

        private mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// A string without escapes or control characters; nil (and the frame falls back) otherwise.
        private mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)]), as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                index += 1
            }
            return nil
        }

        private mutating func strings() -> [String]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var result: [String] = []
            skipSpace()
            if take(UInt8(ascii: "]")) { return result }
            while true {
                skipSpace()
                guard let value = string() else { return nil }
                result.append(value)
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                return take(UInt8(ascii: "]")) ? result : nil
            }
        }
    }
}
