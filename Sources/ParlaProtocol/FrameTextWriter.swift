import Foundation

/// Writes a frame's JSON text byte by byte into one allocation: the `message` frame (one per
/// delivered message) built by interpolation took a base64 string, a growing interpolation
/// buffer and the final string. Callers pass only text that needs no escaping.
struct FrameTextWriter {
    private var bytes: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    /// Builds a string of at most `capacity` bytes with `write`.
    static func text(capacity: Int, _ write: (inout FrameTextWriter) -> Void) -> String {
        String(unsafeUninitializedCapacity: capacity) { buffer in
            var writer = FrameTextWriter(bytes: buffer)
            write(&writer)
            return writer.count
        }
    }

    private init(bytes: UnsafeMutableBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func base64Count(_ byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }
    /// Enough for any `Int64` in decimal, sign included.
    static let decimalCapacity = 20

    mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    private mutating func append(_ source: UnsafeBufferPointer<UInt8>) {
        precondition(count + source.count <= bytes.count, "frame text longer than its capacity")
        guard let from = source.baseAddress, let to = bytes.baseAddress else { return }
        (to + count).update(from: from, count: source.count)
        count += source.count
    }

    mutating func append(decimal value: Int64) {
        precondition(count + Self.decimalCapacity <= bytes.count, "frame text longer than its capacity")
        if value < 0 {
            bytes[count] = UInt8(ascii: "-")
            count += 1
        }
        var magnitude = value.magnitude
        var digits = 0
        repeat {
            digits += 1
            magnitude /= 10
        } while magnitude > 0
        magnitude = value.magnitude
        for index in stride(from: count + digits - 1, through: count, by: -1) {
            bytes[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        }
        count += digits
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding, as `Data.base64EncodedString()` writes it.
    mutating func append(base64 data: Data) {
        precondition(count + Self.base64Count(data.count) <= bytes.count, "frame text longer than its capacity")
        Self.alphabet.withUnsafeBufferPointer { alphabet in
            data.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
                var index = 0
                while index + 3 <= source.count {
                    let chunk = UInt32(source[index]) << 16 | UInt32(source[index + 1]) << 8 | UInt32(source[index + 2])
                    bytes[count] = alphabet[Int(chunk >> 18 & 63)]
                    bytes[count + 1] = alphabet[Int(chunk >> 12 & 63)]
                    bytes[count + 2] = alphabet[Int(chunk >> 6 & 63)]
                    bytes[count + 3] = alphabet[Int(chunk & 63)]
                    count += 4
                    index += 3
                }
                let rest = source.count - index
                guard rest > 0 else { return }
                let chunk = UInt32(source[index]) << 16 | (rest == 2 ? UInt32(source[index + 1]) << 8 : 0)
                bytes[count] = alphabet[Int(chunk >> 18 & 63)]
                bytes[count + 1] = alphabet[Int(chunk >> 12 & 63)]
                bytes[count + 2] = rest == 2 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "=")
                bytes[count + 3] = UInt8(ascii: "=")
                count += 4
            }
        }
    }
}
