import Foundation

/// The header sent in the clear with each message and authenticated with it.
public struct RatchetHeader: Sendable, Equatable, Codable {
    public var ratchetKey: Data
    public var previousChainLength: UInt32
    public var counter: UInt32

    public static let size = 40

    public init(ratchetKey: Data, previousChainLength: UInt32, counter: UInt32) {
        self.ratchetKey = ratchetKey
        self.previousChainLength = previousChainLength
        self.counter = counter
    }

    /// ratchet key (32) || previous chain length (4, big-endian) || counter (4, big-endian).
    public var encoded: Data { ratchetKey + Bytes.uint32(previousChainLength) + Bytes.uint32(counter) }

    public init(decoding data: Data) throws(E2EError) {
        guard data.count == Self.size else { throw .malformedEnvelope("header must be \(Self.size) bytes, got \(data.count)") }
        ratchetKey = Data(data.prefix(32))
        previousChainLength = Bytes.readUInt32(data, at: 32)
        counter = Bytes.readUInt32(data, at: 36)
    }
}
