import Foundation

/// An idempotency key (already a hash) as two words: cheaper to hash and keep in a set than `Data`.
struct AcceptedKey: Hashable, Sendable {
    var high: UInt64
    var low: UInt64

    /// The first 16 bytes of `key`; keys are 16-byte hashes (`SQLiteMailboxStore.acceptedKey`).
    init(_ key: Data) {
        precondition(key.count >= 16, "an accepted key is a 16-byte hash")
        (high, low) = key.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
    }
}
