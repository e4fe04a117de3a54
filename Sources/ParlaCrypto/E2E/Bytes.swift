import Foundation

/// Big-endian integers in the binary formats (envelopes, headers, prekey ids).
enum Bytes {
    static func uint32(_ value: UInt32) -> Data {
        withUnsafeBytes(of: value.bigEndian) { Data($0) }
    }

    static func readUInt32(_ data: Data, at offset: Int) -> UInt32 {
        data[data.startIndex + offset..<data.startIndex + offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
