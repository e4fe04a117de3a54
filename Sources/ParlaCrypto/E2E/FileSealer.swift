import Crypto
import Foundation

/// Encrypts an attachment chunk by chunk under a key used for that one file (sent to the
/// recipients inside the end-to-end encrypted message that announces it).
///
/// ChaCha20-Poly1305 with the chunk's index as nonce (safe: the key never encrypts another
/// file) and, as associated data, the blob id, the index and whether it is the last chunk,
/// so the relay can neither reorder chunks, move them to another file, nor cut the file short.
public struct FileSealer: Sendable {
    public let keyBytes: Data
    public let blob: String
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// A fresh key for a new file.
    public init(blob: String) {
        self.blob = blob
        keyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }

    public init(blob: String, keyBytes: Data) throws {
        guard keyBytes.count == 32 else { throw E2EError.invalidKey("a file key is 32 bytes") }
        self.blob = blob
        self.keyBytes = keyBytes
    }

    public func seal(_ plaintext: Data, index: Int, last: Bool) throws -> Data {
        let box = try ChaChaPoly.seal(plaintext, using: key, nonce: nonce(index), authenticating: associatedData(index, last))
        return box.ciphertext + box.tag
    }

    /// The chunk's plaintext, or an error if it was changed, moved, or is not what `last` says.
    public func open(_ sealed: Data, index: Int, last: Bool) throws -> Data {
        guard sealed.count >= 16 else { throw E2EError.malformedEnvelope("a file chunk is shorter than its tag") }
        do {
            let box = try ChaChaPoly.SealedBox(nonce: nonce(index), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16))
            return try ChaChaPoly.open(box, using: key, authenticating: associatedData(index, last))
        } catch {
            throw E2EError.authenticationFailed
        }
    }

    private func nonce(_ index: Int) throws -> ChaChaPoly.Nonce {
        var bytes = Data(count: 4)
        withUnsafeBytes(of: UInt64(index).bigEndian) { bytes.append(contentsOf: $0) }
        return try ChaChaPoly.Nonce(data: bytes)
    }

    private func associatedData(_ index: Int, _ last: Bool) -> Data {
        var data = Data("parla-file-v1|".utf8) + Data(blob.utf8)
        withUnsafeBytes(of: UInt64(index).bigEndian) { data.append(contentsOf: $0) }
        data.append(last ? 1 : 0)
        return data
    }
}

/// SHA-256 of a file read piece by piece, as lowercase hex: what a recipient checks the
/// decrypted file against.
public struct FileDigest {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ data: Data) { hasher.update(data: data) }
    public func finalize() -> String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }

    /// The digest of the file at `path`, read 1 MiB at a time.
    public static func of(path: String) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var digest = FileDigest()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { digest.update(data) }
        return digest.finalize()
    }
}
