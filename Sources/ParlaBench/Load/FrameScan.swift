import NIOCore

/// Pulls a string field out of a relay frame without decoding the JSON: the load generator
/// reads every frame the relay sends, and must cost far less than the relay per message.
/// Only used on frames whose field values cannot contain quotes (types, ids, names).
enum FrameScan {
    /// The value of `"key":"…"`, or nil.
    static func string(_ key: String, in buffer: ByteBuffer) -> String? {
        let pattern = Array("\"\(key)\":\"".utf8)
        return buffer.withUnsafeReadableBytes { bytes -> String? in
            guard bytes.count >= pattern.count else { return nil }
            var i = 0
            let last = bytes.count - pattern.count
            while i <= last {
                if bytes[i] == pattern[0] {
                    var j = 1
                    while j < pattern.count, bytes[i + j] == pattern[j] { j += 1 }
                    if j == pattern.count {
                        let start = i + pattern.count
                        var end = start
                        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += 1 }
                        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                    }
                }
                i += 1
            }
            return nil
        }
    }

    static func type(of buffer: ByteBuffer) -> String? { string("type", in: buffer) }
}
