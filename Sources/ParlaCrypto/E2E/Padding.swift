import Foundation

/// Pads plaintexts to size buckets (powers of two from 64 bytes) so the relay learns
/// little from lengths: 0x80 then zeros (ISO/IEC 7816-4), removable without a length field.
public enum Padding {
    public static func pad(_ data: Data) -> Data {
        var bucket = 64
        while bucket < data.count + 1 { bucket *= 2 }
        return data + Data([0x80]) + Data(repeating: 0, count: bucket - data.count - 1)
    }

    /// The longest plaintext whose padded bucket, with `overhead` bytes around it, fits in
    /// `limit`: buckets double, so a plaintext one byte past a bucket needs twice the room.
    public static func largestPlaintext(fitting limit: Int, overhead: Int) -> Int {
        var bucket = 64
        while bucket * 2 + overhead <= limit { bucket *= 2 }
        return bucket + overhead <= limit ? bucket - 1 : 0
    }

    public static func unpad(_ data: Data) throws(E2EError) -> Data {
        // Over the raw bytes: `Data`'s own index walk checked exclusive access for every byte.
        let marker = data.withUnsafeBytes { bytes -> Int? in
            guard let last = bytes.lastIndex(where: { $0 != 0 }), bytes[last] == 0x80 else { return nil }
            return last
        }
        guard let marker else { throw .malformedEnvelope("padding is damaged") }
        return data[data.startIndex..<(data.startIndex + marker)]
    }
}
