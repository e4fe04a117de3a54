import Foundation

/// Attachments on the wire (docs/PROTOCOL.md §6): a file is encrypted on the client and
/// uploaded in fixed-size chunks under a random blob id; the relay keeps it until every
/// recipient named at upload has downloaded it, or its message TTL passes.
public enum BlobLimits {
    /// Plaintext bytes in every chunk but the last.
    public static let chunkPlaintextBytes = 128 * 1024
    /// What the authentication tag adds to a chunk.
    public static let chunkOverheadBytes = 16
    public static let chunkBytes = chunkPlaintextBytes + chunkOverheadBytes
    /// The largest file a user may send.
    public static let maxFileBytes = 100 * 1024 * 1024
    public static let maxChunks = (maxFileBytes + chunkPlaintextBytes - 1) / chunkPlaintextBytes
    /// Most chunks one `blobGet` asks for (the client asks for more as they arrive).
    public static let maxChunksPerGet = 8
    /// Most recipients of one blob (the largest group frame).
    public static let maxRecipients = 1024

    /// Chunks and stored bytes of a file of `plaintextBytes` (an empty file is one empty chunk).
    public static func sealedLayout(plaintextBytes: Int) -> (chunks: Int, bytes: Int) {
        let chunks = max(1, (plaintextBytes + chunkPlaintextBytes - 1) / chunkPlaintextBytes)
        return (chunks, plaintextBytes + chunks * chunkOverheadBytes)
    }

    /// 128 bits of hex, as the client draws it: unguessable, so naming one proves nothing.
    public static func isValidBlobID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

extension ClientFrame {
    /// Starts (or resumes) an upload; the relay answers `blobStatus` with the chunks it has.
    public struct BlobOpen: Sendable, Equatable {
        public var blob: String
        /// Stored bytes in all (sealed chunks), and how many chunks.
        public var size: Int
        public var chunks: Int
        /// Who may download it; it is deleted once all of them have.
        public var recipients: [String]
        public init(blob: String, size: Int, chunks: Int, recipients: [String]) {
            self.blob = blob
            self.size = size
            self.chunks = chunks
            self.recipients = recipients
        }
    }

    /// Chunk `index` of an upload; chunks arrive in order (the relay answers `blobStatus`).
    public struct BlobPut: Sendable, Equatable {
        public var blob: String
        public var index: Int
        public var data: Data
        public init(blob: String, index: Int, data: Data) {
            self.blob = blob
            self.index = index
            self.data = data
        }
    }

    /// Asks for `count` chunks from `index` (at most `BlobLimits.maxChunksPerGet`).
    public struct BlobGet: Sendable, Equatable {
        public var blob: String
        public var index: Int
        public var count: Int
        public init(blob: String, index: Int, count: Int) {
            self.blob = blob
            self.index = index
            self.count = count
        }
    }
}

extension RelayFrame {
    /// How much of a blob the relay has stored: the answer to `blobOpen` and to each `blobPut`.
    public struct BlobStatus: Sendable, Equatable {
        public var blob: String
        /// Chunks stored, from the first, on disk.
        public var have: Int
        public var chunks: Int
        public init(blob: String, have: Int, chunks: Int) {
            self.blob = blob
            self.have = have
            self.chunks = chunks
        }

        public var complete: Bool { have == chunks }
    }

    public struct BlobChunk: Sendable, Equatable {
        public var blob: String
        public var index: Int
        public var chunks: Int
        public var data: Data
        public init(blob: String, index: Int, chunks: Int, data: Data) {
            self.blob = blob
            self.index = index
            self.chunks = chunks
            self.data = data
        }
    }
}
