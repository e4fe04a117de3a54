import Crypto
import Foundation

/// Signal-style safety numbers: 60 digits from both identities, the same on both
/// sides, compared out of band to rule out a relay that lies about keys.
public enum SafetyNumber {
    static let iterations = 5200

    /// 30 digits for one user: SHA-512 iterated over (version || key || name), then
    /// six 5-byte chunks, each mod 100000.
    public static func fingerprint(name: String, signingKey: Data, agreementKey: Data) -> String {
        let key = signingKey + agreementKey
        var hash = Data([0, 0]) + key + Data(name.utf8)
        for _ in 0..<iterations {
            hash = Data(SHA512.hash(data: hash + key))
        }
        return (0..<6).map { chunk in
            let value = hash[chunk * 5..<chunk * 5 + 5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return String(format: "%05llu", value % 100_000)
        }.joined()
    }

    /// The 60-digit number for a pair of users (order-independent), in 12 groups of 5.
    public static func compute(localName: String, localSigning: Data, localAgreement: Data,
                               remoteName: String, remoteSigning: Data, remoteAgreement: Data) -> String {
        let halves = [fingerprint(name: localName, signingKey: localSigning, agreementKey: localAgreement),
                      fingerprint(name: remoteName, signingKey: remoteSigning, agreementKey: remoteAgreement)].sorted()
        let digits = Array(halves.joined())
        return stride(from: 0, to: digits.count, by: 5).map { String(digits[$0..<$0 + 5]) }.joined(separator: " ")
    }
}

/// Pads plaintexts to size buckets (powers of two from 64 bytes) so the relay learns
/// little from lengths: 0x80 then zeros (ISO/IEC 7816-4), removable without a length field.
public enum Padding {
    public static func pad(_ data: Data) -> Data {
        var bucket = 64
        while bucket < data.count + 1 { bucket *= 2 }
        return data + Data([0x80]) + Data(repeating: 0, count: bucket - data.count - 1)
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
