import Foundation
import Synchronization

/// A Bloom filter over the idempotency keys the store has taken, kept in memory so the live
/// route can tell a fresh message from a possible resend without a database read. "No"
/// is certain; "maybe" (a resend, or a false positive) sends the message down the stored
/// route, whose exact check in the database decides. Keys are never removed: an expired
/// key only costs a false positive. Filled from the database when the store opens.
final class AcceptedKeyFilter: Sendable {
    private static let bitCount = 1 << 26  // 8 MiB: about 1 % false positives at 7 million keys
    private let words = Mutex<[UInt64]>(Array(repeating: 0, count: bitCount / 64))

    /// Four bit positions from the key's bytes (the keys are already hash output).
    private static func positions(_ key: Data) -> [Int] {
        precondition(key.count >= 16, "accepted keys are 16-byte hashes")
        return key.withUnsafeBytes { raw in
            (0..<4).map { index in Int(raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)) & (bitCount - 1) }
        }
    }

    func insert(_ key: Data) {
        let positions = Self.positions(key)
        words.withLock { words in
            for position in positions { words[position >> 6] |= 1 << UInt64(position & 63) }
        }
    }

    func mightContain(_ key: Data) -> Bool {
        let positions = Self.positions(key)
        return words.withLock { words in
            positions.allSatisfy { words[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }
        }
    }
}
