import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ParlaProtocol

/// Encrypted attachments, one file of sealed chunks per blob under `<data>/blobs`, with a
/// small JSON record beside it (owner, layout, who has still to download it, when it came).
///
/// Chunks are appended in order and synced before they are acknowledged, so the number of
/// whole chunks in the file *is* the upload's progress: after a crash, a torn last chunk is
/// cut off and the upload resumes from the one before. A blob is deleted when its last
/// recipient says it has it, or when the relay's TTL passes since it was opened.
actor BlobStore {
    struct Record: Codable, Sendable {
        var owner: String
        var size: Int
        var chunks: Int
        var recipients: [String]
        var createdAt: Int64
    }

    enum Failure: Error, Equatable {
        case refused(FrameError)
    }

    private let directory: URL
    private let quotaBytes: Int
    private let logger: Logger
    private var records: [String: Record] = [:]
    /// Bytes on disk so far, per blob (whole chunks only).
    private var stored: [String: Int] = [:]

    /// `quotaBytes`: how much one user may have waiting on this relay at once.
    init(directory: String, quotaBytes: Int, logger: Logger) throws {
        self.directory = URL(fileURLWithPath: directory).appendingPathComponent("blobs")
        self.quotaBytes = quotaBytes
        self.logger = logger
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in try FileManager.default.contentsOfDirectory(atPath: self.directory.path) where name.hasSuffix(".json") {
            let blob = String(name.dropLast(5))
            guard BlobLimits.isValidBlobID(blob),
                  let record = try? JSONDecoder().decode(Record.self, from: Data(contentsOf: self.directory.appendingPathComponent(name)))
            else { continue }
            records[blob] = record
            stored[blob] = Self.wholeChunks(dataURL: self.directory.appendingPathComponent(blob + ".data"), record: record)
        }
    }

    /// Bytes of whole chunks in the file, cutting off a torn tail (a crash mid-write).
    private static func wholeChunks(dataURL: URL, record: Record) -> Int {
        let size = (try? FileManager.default.attributesOfItem(atPath: dataURL.path)[.size] as? Int) ?? 0
        if size >= record.size { return record.size }
        let whole = size / BlobLimits.chunkBytes * BlobLimits.chunkBytes
        if whole != size, let handle = try? FileHandle(forWritingTo: dataURL) {
            try? handle.truncate(atOffset: UInt64(whole))
            try? handle.close()
        }
        return whole
    }

    private func dataURL(_ blob: String) -> URL { directory.appendingPathComponent(blob + ".data") }
    private func recordURL(_ blob: String) -> URL { directory.appendingPathComponent(blob + ".json") }

    private func status(_ blob: String, _ record: Record) -> RelayFrame.BlobStatus {
        let bytes = stored[blob] ?? 0
        let have = bytes >= record.size ? record.chunks : bytes / BlobLimits.chunkBytes
        return RelayFrame.BlobStatus(blob: blob, have: have, chunks: record.chunks)
    }

    private static func refuse(_ code: ErrorCode, _ message: String, _ blob: String) -> Failure {
        .refused(FrameError(code, message, ref: blob))
    }

    /// Starts an upload, or says how far an earlier one of the same blob got.
    func open(_ request: ClientFrame.BlobOpen, owner: String, now: Int64) throws(Failure) -> RelayFrame.BlobStatus {
        let blob = request.blob
        if let record = records[blob] {
            guard record.owner == owner, record.size == request.size, record.chunks == request.chunks else {
                throw Self.refuse(.idConflict, "another upload has this blob id", blob)
            }
            return status(blob, record)
        }
        let held = records.values.filter { $0.owner == owner }.reduce(0) { $0 + $1.size }
        guard held + request.size <= quotaBytes else {
            throw Self.refuse(.blobQuotaExceeded, "you have \(held >> 20) MiB of files waiting to be downloaded on this relay; the limit is \(quotaBytes >> 20) MiB", blob)
        }
        let record = Record(owner: owner, size: request.size, chunks: request.chunks, recipients: request.recipients, createdAt: now)
        do {
            guard FileManager.default.createFile(atPath: dataURL(blob).path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
            try write(record, blob)
        } catch {
            try? FileManager.default.removeItem(at: dataURL(blob))
            throw Self.refuse(.storageUnavailable, "the relay could not store the file (\(Self.describe(error)))", blob)
        }
        records[blob] = record
        stored[blob] = 0
        return status(blob, record)
    }

    /// Appends chunk `index` (the next one expected; one already stored is acknowledged again).
    func put(_ chunk: ClientFrame.BlobPut, owner: String) throws(Failure) -> RelayFrame.BlobStatus {
        let blob = chunk.blob
        guard let record = records[blob], record.owner == owner else { throw Self.refuse(.unknownBlob, "no upload with this blob id; open it first", blob) }
        let current = status(blob, record)
        if chunk.index < current.have { return current }
        guard chunk.index == current.have else {
            throw Self.refuse(.badFrame, "chunk \(chunk.index) out of order: the relay has \(current.have); send that one next", blob)
        }
        let expected = chunk.index == record.chunks - 1 ? record.size - (record.chunks - 1) * BlobLimits.chunkBytes : BlobLimits.chunkBytes
        guard chunk.data.count == expected else {
            throw Self.refuse(.badFrame, "chunk \(chunk.index) is \(chunk.data.count) bytes; it must be \(expected)", blob)
        }
        do {
            let handle = try FileHandle(forWritingTo: dataURL(blob))
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(stored[blob] ?? 0))
            try handle.write(contentsOf: chunk.data)
            // Acknowledged means on disk: a crash after this never loses the chunk.
            try handle.synchronize()
        } catch {
            // Whatever part of the chunk reached the file is cut off again.
            if let handle = try? FileHandle(forWritingTo: dataURL(blob)) {
                try? handle.truncate(atOffset: UInt64(stored[blob] ?? 0))
                try? handle.close()
            }
            throw Self.refuse(.storageUnavailable, "the relay could not store the chunk (\(Self.describe(error))); try again later", blob)
        }
        stored[blob, default: 0] += chunk.data.count
        return status(blob, record)
    }

    /// Up to `count` chunks from `index`, for a recipient (or the uploader) of a whole upload.
    func get(_ request: ClientFrame.BlobGet, user: String) throws(Failure) -> [RelayFrame.BlobChunk] {
        let blob = request.blob
        guard let record = records[blob], record.owner == user || record.recipients.contains(user) else {
            throw Self.refuse(.unknownBlob, "no such file on this relay (expired, or already downloaded by everyone)", blob)
        }
        guard status(blob, record).complete else { throw Self.refuse(.blobIncomplete, "the sender has not finished uploading this file yet", blob) }
        guard request.index < record.chunks else { return [] }
        do {
            let handle = try FileHandle(forReadingFrom: dataURL(blob))
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(request.index * BlobLimits.chunkBytes))
            var chunks: [RelayFrame.BlobChunk] = []
            for index in request.index..<min(record.chunks, request.index + request.count) {
                let data = try handle.read(upToCount: BlobLimits.chunkBytes) ?? Data()
                chunks.append(RelayFrame.BlobChunk(blob: blob, index: index, chunks: record.chunks, data: data))
            }
            return chunks
        } catch {
            throw Self.refuse(.storageUnavailable, "the relay could not read the file (\(Self.describe(error)))", blob)
        }
    }

    /// `user` has the file: the relay forgets it for them, and deletes it after the last one.
    func done(_ blob: String, user: String) {
        guard var record = records[blob], let index = record.recipients.firstIndex(of: user) else { return }
        record.recipients.remove(at: index)
        if record.recipients.isEmpty {
            delete(blob)
        } else {
            records[blob] = record
            try? write(record, blob)
        }
    }

    /// Deletes blobs opened longer ago than the TTL; returns how many.
    @discardableResult
    func expire(now: Int64, ttlMillis: Int64) -> Int {
        let old = records.filter { $0.value.createdAt + ttlMillis <= now }.map(\.key)
        for blob in old { delete(blob) }
        if !old.isEmpty { logger.info("expired files", metadata: ["count": "\(old.count)"]) }
        return old.count
    }

    /// Whether a blob is still kept (tests).
    func contains(_ blob: String) -> Bool { records[blob] != nil }

    private func delete(_ blob: String) {
        records[blob] = nil
        stored[blob] = nil
        try? FileManager.default.removeItem(at: dataURL(blob))
        try? FileManager.default.removeItem(at: recordURL(blob))
    }

    /// Written to a temporary file, synced, renamed over the old one, and the directory synced:
    /// once a blob is open its record survives a crash (a message may already name it).
    private func write(_ record: Record, _ blob: String) throws {
        let url = recordURL(blob)
        let temporary = url.appendingPathExtension("tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let handle = try FileHandle(forWritingTo: temporary)
        try handle.write(contentsOf: JSONEncoder().encode(record))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary.path, url.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let directoryDescriptor = Glibc.open(directory.path, O_RDONLY)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    private static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        return text.contains("No space left") || text.contains("ENOSPC") || (error as NSError).code == 28 ? "its disk is full" : text
    }
}
