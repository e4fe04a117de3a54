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

    /// Where the key's bits lie: its block's first word, and four 9-bit positions within the
    /// block's 512 bits packed in one integer (the key's bytes are already hash output).
    private static func slot(_ key: Data) -> (firstWord: Int, positions: UInt64) {
        precondition(key.count >= 16, "accepted keys are 16-byte hashes")
        let (block, positions) = key.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self), raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        }
        return ((Int(block) & (blockCount - 1)) * wordsPerBlock, positions)
    }

    /// The word and bit of the key's `index`th position.
    private static func bit(_ index: Int, of slot: (firstWord: Int, positions: UInt64)) -> (word: Int, mask: UInt64) {
        let position = Int(truncatingIfNeeded: slot.positions >> UInt64(9 * index)) & 511
        return (slot.firstWord + (position >> 6), 1 << UInt64(position & 63))
    }

    func insert(_ key: Data) {
        let slot = Self.slot(key)
        words.withLock { words in
            for index in 0..<4 {
                let (word, mask) = Self.bit(index, of: slot)
                words[word] |= mask
            }
        }
    }

    func mightContain(_ key: Data) -> Bool {
        let slot = Self.slot(key)
        return words.withLock { words in
            (0..<4).allSatisfy { index in
                let (word, mask) = Self.bit(index, of: slot)
                return words[word] & mask != 0
            }
        }
    }
}
