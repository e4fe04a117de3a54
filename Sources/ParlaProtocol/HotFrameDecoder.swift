import Foundation

/// Decodes the two frames a busy client sends most — `send` and `confirm` — straight from
/// their bytes, since a `JSONDecoder` per frame was about a tenth of the relay's CPU; and,
/// for the client, the relay's `message` and `ack` frames (a `JSONDecoder` per incoming
/// message was ~6% of a client draining its mailbox). It takes only the plain shape
/// (string values without escapes, no other keys, each key once) and answers nil for
/// anything else, which the full decoder then handles, errors included. Tests check that
/// whatever it accepts decodes to the same frame both ways.
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
            // Each key once, each value a plain string (an array of them for "ids"); anything else falls back.
            let plain = object { scanner, key in
                switch key {
                case "type" where type == nil: type = scanner.string(); return type != nil
                case "id" where id == nil: id = scanner.string(); return id != nil
                case "to" where to == nil: to = scanner.string(); return to != nil
                case "body" where body == nil: body = scanner.string(); return body != nil
                case "ids" where ids == nil: ids = scanner.strings(); return ids != nil
                default: return false
                }
            }
            guard plain else { return nil }
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
            let plain = object { scanner, key in
                switch key {
                case "type" where type == nil: type = scanner.string(); return type != nil
                case "id" where id == nil: id = scanner.string(); return id != nil
                case "from" where from == nil: from = scanner.string(); return from != nil
                case "body" where body == nil: body = scanner.string(); return body != nil
                case "group" where group == nil: group = scanner.string(); return group != nil
                case "sentAt" where sentAt == nil: sentAt = scanner.integer(); return sentAt != nil
                case "delivered" where delivered == nil: delivered = scanner.integer(); return delivered != nil
                default: return false
                }
            }
            guard plain, let type, let id else { return nil }
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

        /// Walks the one flat object that must make up the whole text, handing each key to
        /// `member` with the scanner at its value; `member` reads the value and answers false
        /// (as does any other shape) to leave the frame to the full decoder.
        @inline(__always)
        private mutating func object(_ member: (inout Scanner, String) -> Bool) -> Bool {
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return false }
            while true {
                skipSpace()
                guard let key = string() else { return false }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return false }
                skipSpace()
                guard member(&self, key) else { return false }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return false }
                break
            }
            skipSpace()
            return index == bytes.count
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
