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
