import Foundation
import Synchronization

/// A Bloom filter over the idempotency keys the store has taken, kept in memory so the live
/// route can tell a fresh message from a possible resend without a database read. "No"
/// is certain; "maybe" (a resend, or a false positive) sends the message down the stored
/// route, whose exact check in the database decides. Keys are never removed: an expired
/// key only costs a false positive. Filled from the database when the store opens.
///
/// Blocked: a key's four bits lie in one 64-byte block (one cache line), so a check or an
/// insert costs one memory access where four scattered bits cost four, twice per message.
final class AcceptedKeyFilter: Sendable {
    private static let wordsPerBlock = 8
    private static let blockCount = 1 << 17  // 8 MiB: about 1-2 % false positives at 7 million keys
    private let words = Mutex<[UInt64]>(Array(repeating: 0, count: blockCount * wordsPerBlock))

    /// The key's block and its four bits there (word index, bit mask), from its bytes (already hash output).
    private static func bits(_ key: Data) -> (Int, UInt64, Int, UInt64, Int, UInt64, Int, UInt64) {
        precondition(key.count >= 16, "accepted keys are 16-byte hashes")
        let (blockBits, bitBits) = key.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self), raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        }
        let block = Int(blockBits) & (blockCount - 1)
        // Four 9-bit positions within the block's 512 bits.
        func bit(_ index: Int) -> (Int, UInt64) {
            let position = Int(truncatingIfNeeded: bitBits >> UInt64(9 * index)) & 511
            return (block * wordsPerBlock + position >> 6, 1 << UInt64(position & 63))
        }
        let (w0, m0) = bit(0), (w1, m1) = bit(1), (w2, m2) = bit(2), (w3, m3) = bit(3)
        return (w0, m0, w1, m1, w2, m2, w3, m3)
    }

    func insert(_ key: Data) {
        let b = Self.bits(key)
        words.withLock { words in
            words[b.0] |= b.1
            words[b.2] |= b.3
            words[b.4] |= b.5
            words[b.6] |= b.7
        }
    }

    func mightContain(_ key: Data) -> Bool {
        let b = Self.bits(key)
        return words.withLock { words in
            words[b.0] & b.1 != 0 && words[b.2] & b.3 != 0 && words[b.4] & b.5 != 0 && words[b.6] & b.7 != 0
        }
    }
}
