import Foundation

/// Decodes the two frames a busy client sends most — `send` and `confirm` — straight from
/// their bytes, since a `JSONDecoder` per frame was about a tenth of the relay's CPU; and,
/// for the client, the relay's `message` and `ack` frames (a `JSONDecoder` per incoming
/// message was ~6% of a client draining its mailbox). It
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

    static func decodeRelayFrame(_ text: some StringProtocol) -> RelayFrame? {
        var text = String(text)
        return text.withUTF8 { bytes in
            var scanner = Scanner(bytes: bytes)
            return scanner.relayFrame()
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

        /// `message` (1:1 or group) and `ack` (with or without `delivered`), in any key order.
        mutating func relayFrame() -> RelayFrame? {
            var type: String?, id: String?, from: String?, body: String?, group: String?, sentAt: Int64?, delivered: Int64?
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                switch key {
                case "type" where type == nil: guard let value = string() else { return nil }; type = value
                case "id" where id == nil: guard let value = string() else { return nil }; id = value
                case "from" where from == nil: guard let value = string() else { return nil }; from = value
                case "body" where body == nil: guard let value = string() else { return nil }; body = value
                case "group" where group == nil: guard let value = string() else { return nil }; group = value
                case "sentAt" where sentAt == nil: guard let value = integer() else { return nil }; sentAt = value
                case "delivered" where delivered == nil: guard let value = integer() else { return nil }; delivered = value
                default: return nil
                }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
            skipSpace()
            guard index == bytes.count, let type, let id else { return nil }
            switch type {
            case "message":
                guard let from, let body, let sentAt, delivered == nil, let data = Data(base64Encoded: body) else { return nil }
                return .message(.init(id: id, from: from, body: data, sentAt: sentAt, group: group))
            case "ack":
                guard from == nil, body == nil, group == nil, sentAt == nil else { return nil }
                return delivered.map { .ackDelivered(id: id, at: $0) } ?? .ack(id: id)
            default:
                return nil
            }
        }

        /// A JSON integer that fits an `Int64` (no fraction or exponent); nil otherwise.
        private mutating func integer() -> Int64? {
            let negative = take(UInt8(ascii: "-"))
            let start = index
            var value: Int64 = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let digit = Int64(bytes[index] - UInt8(ascii: "0"))
                let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(digit)
                guard !overflowA, !overflowB else { return nil }
                value = sum
                index += 1
            }
            guard index > start, index - start == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) { return nil }
            return negative ? -value : value
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
