import Foundation
import ParlaCrypto
import ParlaProtocol

/// How far a file has moved, for progress bars.
public struct TransferProgress: Sendable, Equatable {
    public var messageID: String
    public var chat: String
    public var bytes: Int
    public var total: Int
    public var upload: Bool

    public init(messageID: String, chat: String, bytes: Int, total: Int, upload: Bool) {
        self.messageID = messageID
        self.chat = chat
        self.bytes = bytes
        self.total = total
        self.upload = upload
    }
}

/// An answer from the relay about one blob.
enum BlobReply: Sendable {
    case status(RelayFrame.BlobStatus)
    case chunk(RelayFrame.BlobChunk)
    case error(FrameError)
}

/// Attachments (issue 22): a file is encrypted into the profile when it is sent (so the
/// outbox holds it whatever happens to the original), uploaded in chunks that resume where
/// the relay's count says after a dropped connection, and only then announced in a message.
/// Received files download on their own, resuming from what is on disk, are checked against
/// the sender's SHA-256, and are then released on the relay.
extension ParlaClient {
    var filesDirectory: String { (profile.directory as NSString).appendingPathComponent("files") }

    /// Sends the file at `path` to `recipient` (a user or #GROUP), with an optional caption.
    @discardableResult
    public func sendFile(at path: String, to recipient: String, caption: String? = nil, replyTo: String? = nil) throws -> MessageRecord {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { throw EngineError.fileProblem("no file at \(path)") }
        guard !isDirectory.boolValue else { throw EngineError.fileProblem("\(path) is a directory; send the files in it one by one (or an archive of it)") }
        guard FileManager.default.isReadableFile(atPath: url.path) else { throw EngineError.fileProblem("\(path) cannot be read (permissions)") }
        return try sendAttachment(source: url.path, name: url.lastPathComponent, to: recipient, caption: caption, text: caption ?? "",
                                  replyTo: replyTo, longText: false)
    }

    /// A text longer than one message holds goes as a file the recipient shows as the text.
    func sendLongText(_ text: String, to recipient: String, replyTo: String?) throws -> MessageRecord {
        guard text.utf8.count <= BlobLimits.maxFileBytes else { throw EngineError.messageTooLong(text.utf8.count) }
        try FileManager.default.createDirectory(atPath: filesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = (filesDirectory as NSString).appendingPathComponent("text-" + UUID().uuidString.lowercased() + ".txt")
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        // Until it is downloaded, the other side shows the start of it.
        let preview = String(text.prefix(500)) + "…"
        return try sendAttachment(source: temporary, name: "message.txt", to: recipient, caption: preview, text: text, replyTo: replyTo, longText: true)
    }

    private func sendAttachment(source: String, name: String, to recipient: String, caption: String?, text: String, replyTo: String?,
                                longText: Bool) throws -> MessageRecord {
        let groupName = ClientStore.groupName(ofChat: recipient)
        guard Validation.isValidName(groupName ?? recipient) else { throw EngineError.invalidRecipient(recipient) }
        if let replyTo {
            guard (try? store.message(inChat: recipient, id: replyTo)) != nil else { throw EngineError.unknownMessage(replyTo) }
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? 0
        guard size <= BlobLimits.maxFileBytes else {
            throw EngineError.fileProblem("\(name) is \(size >> 20) MiB; files are limited to \(BlobLimits.maxFileBytes >> 20) MiB")
        }
        let group = try storing { try memberGroup(ofChat: recipient) }
        if let caption {
            let announcement = MessageContent.file(FileOffer(blob: String(repeating: "0", count: 32), name: name, size: size, sha256: String(repeating: "0", count: 64),
                                                             key: Data(count: 32), caption: caption), group: groupName, replyTo: replyTo)
            guard announcement.encoded.count <= Self.maxPlaintextBytes else { throw EngineError.messageTooLong(announcement.encoded.count) }
        }
        let blob = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let sealer = FileSealer(blob: blob)
        let spool = (filesDirectory as NSString).appendingPathComponent(blob + ".sealed")
        let sha256: String
        do {
            try FileManager.default.createDirectory(atPath: filesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            sha256 = try Self.seal(source, into: spool, with: sealer, size: size)
        } catch {
            try? FileManager.default.removeItem(atPath: spool)
            throw StorageFault(error).map { EngineError.storage($0.describe(whose: "this computer's")) } ?? EngineError.fileProblem("could not read \(name): \(error)")
        }
        let offer = FileOffer(blob: blob, name: name, size: size, sha256: sha256, key: sealer.keyBytes, caption: caption, longText: longText ? true : nil)
        let recipients = group.map { $0.members.filter { $0 != profile.name } } ?? [recipient]
        let record: MessageRecord
        do {
            if let groupName { try store.acceptInvitation(to: groupName) }
            record = try store.enqueueFileMessage(id: UUID().uuidString.lowercased(), from: profile.name, chat: recipient, text: text, offer: offer, group: group,
                                                  recipients: recipients, spoolPath: spool, originalPath: longText ? nil : source, longText: longText,
                                                  replyTo: replyTo, at: clock.now())
        } catch {
            try? FileManager.default.removeItem(atPath: spool)
            throw EngineError.storage("\(error)")
        }
        eventSink.yield(.messageAdded(record))
        if record.expiresAt != nil { expiryScheduled() }
        Task { await self.runTransfers() }
        return record
    }

    /// Encrypts `source` chunk by chunk into `spool` (synced), returning the plaintext's SHA-256.
    private static func seal(_ source: String, into spool: String, with sealer: FileSealer, size: Int) throws -> String {
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: spool, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: spool))
        defer { try? output.close() }
        var digest = FileDigest()
        let chunks = BlobLimits.sealedLayout(plaintextBytes: size).chunks
        for index in 0..<chunks {
            let plain = try input.read(upToCount: BlobLimits.chunkPlaintextBytes) ?? Data()
            digest.update(plain)
            try output.write(contentsOf: try sealer.seal(plain, index: index, last: index == chunks - 1))
        }
        // The file changed size while being read: what was sealed is not what was measured.
        guard try input.read(upToCount: 1)?.isEmpty ?? true, try output.offset() == UInt64(BlobLimits.sealedLayout(plaintextBytes: size).bytes) else {
            throw EngineError.fileProblem("the file changed while it was being read; send it again")
        }
        try output.synchronize()
        return digest.finalize()
    }

    // MARK: - Moving files

    /// Uploads and downloads what is pending, one file at a time, while online.
    func runTransfers() async {
        if transferring {
            transferAgain = true
            return
        }
        transferring = true
        defer { transferring = false }
        repeat {
            transferAgain = false
            guard connectionState == .online, let link else { return }
            for item in (try? store.pendingTransfers()) ?? [] {
                guard connectionState == .online, self.link != nil else { return }
                let finished = item.state == .uploading ? await upload(item, on: link) : await download(item, on: link)
                if !finished { scheduleTransferRetry() }
                notifyTransferWaiters()
            }
        } while transferAgain
    }

    private func scheduleTransferRetry() {
        guard !transferRetryScheduled else { return }
        transferRetryScheduled = true
        let clock = self.clock
        Task {
            try? await clock.sleep(for: .seconds(5))
            self.transferRetryDue()
        }
    }

    private func transferRetryDue() {
        transferRetryScheduled = false
        Task { await self.runTransfers() }
    }

    /// Chunks sent ahead of the relay's acknowledgement.
    static let uploadWindow = 16

    /// True when the file is done with (uploaded, or failed for good); false to try again later.
    private func upload(_ item: ClientStore.Transfer, on link: any RelayLink) async -> Bool {
        guard let spool = item.spoolPath, let input = try? FileHandle(forReadingFrom: URL(fileURLWithPath: spool)) else {
            return fail(item, "its encrypted copy in the profile is missing; send it again")
        }
        defer { try? input.close() }
        let layout = BlobLimits.sealedLayout(plaintextBytes: item.size)
        await link.send(ClientFrame.blobOpen(.init(blob: item.blob, size: layout.bytes, chunks: layout.chunks, recipients: item.recipients)).encoded())
        var acknowledged: Int
        switch await blobReply(item.blob) {
        case .status(let status)?: acknowledged = status.have
        case .error(let error)?: return refused(item, error)
        default: return false
        }
        var next = acknowledged
        while acknowledged < layout.chunks {
            while next < layout.chunks, next - acknowledged < Self.uploadWindow {
                do {
                    try input.seek(toOffset: UInt64(next * BlobLimits.chunkBytes))
                    let data = try input.read(upToCount: BlobLimits.chunkBytes) ?? Data()
                    await link.send(ClientFrame.blobPut(.init(blob: item.blob, index: next, data: data)).encoded())
                } catch {
                    return fail(item, "could not read its encrypted copy: \(error)")
                }
                next += 1
            }
            switch await blobReply(item.blob) {
            case .status(let status)?:
                acknowledged = max(acknowledged, status.have)
                progress(item, bytes: min(item.size, acknowledged * BlobLimits.chunkPlaintextBytes), upload: true)
            case .error(let error)?: return refused(item, error)
            default: return false
            }
        }
        // Acknowledgements of chunks sent twice may still come: they are stale, and dropped with the inbox.
        blobInbox[item.blob] = nil
        if let record = try? store.uploadFinished(blob: item.blob) {
            try? FileManager.default.removeItem(atPath: spool)
            eventSink.yield(.messageUpdated(record))
            Task { await self.flushOutbox() }
        }
        return true
    }

    private func download(_ item: ClientStore.Transfer, on link: any RelayLink) async -> Bool {
        let part = (filesDirectory as NSString).appendingPathComponent(item.blob + ".part")
        guard let sealer = try? FileSealer(blob: item.blob, keyBytes: item.key) else { return fail(item, "its key is damaged") }
        let output: FileHandle
        var index: Int
        do {
            try FileManager.default.createDirectory(atPath: filesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if !FileManager.default.fileExists(atPath: part) {
                guard FileManager.default.createFile(atPath: part, contents: nil, attributes: [.posixPermissions: 0o600]) else { throw CocoaError(.fileWriteUnknown) }
            }
            output = try FileHandle(forUpdating: URL(fileURLWithPath: part))
            // Whole chunks only: a chunk cut short by a crash is fetched again.
            let have = Int(try output.seekToEnd()) / BlobLimits.chunkPlaintextBytes
            index = min(have, item.chunks)
            try output.truncate(atOffset: UInt64(index * BlobLimits.chunkPlaintextBytes))
        } catch {
            storageFailed(error)
            return false
        }
        defer { try? output.close() }
        while index < item.chunks {
            let count = min(BlobLimits.maxChunksPerGet, item.chunks - index)
            await link.send(ClientFrame.blobGet(.init(blob: item.blob, index: index, count: count)).encoded())
            for _ in 0..<count {
                switch await blobReply(item.blob) {
                case .chunk(let chunk)? where chunk.index == index:
                    do {
                        let plain = try sealer.open(chunk.data, index: index, last: index == item.chunks - 1)
                        try output.write(contentsOf: plain)
                    } catch is E2EError {
                        try? FileManager.default.removeItem(atPath: part)
                        return fail(item, "it was damaged or changed on the way (chunk \(index) does not decrypt)")
                    } catch {
                        storageFailed(error)
                        return false
                    }
                    index += 1
                    progress(item, bytes: min(item.size, index * BlobLimits.chunkPlaintextBytes), upload: false)
                case .error(let error)?:
                    return refused(item, error)
                default:
                    // Out of order or the connection dropped: start again from what is on disk.
                    blobInbox[item.blob] = nil
                    return false
                }
            }
        }
        do {
            try output.synchronize()
            guard try output.offset() == UInt64(item.size), try FileDigest.of(path: part) == item.sha256 else {
                try? FileManager.default.removeItem(atPath: part)
                return fail(item, "it does not match what the sender sent (SHA-256 differs)")
            }
            let folder = (filesDirectory as NSString).appendingPathComponent(item.blob)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let final = (folder as NSString).appendingPathComponent(item.name)
            try? FileManager.default.removeItem(atPath: final)
            try FileManager.default.moveItem(atPath: part, toPath: final)
            let text = item.longText ? String(data: try Data(contentsOf: URL(fileURLWithPath: final)), encoding: .utf8) : nil
            if let record = try store.downloadFinished(blob: item.blob, path: final, longText: text) { eventSink.yield(.messageUpdated(record)) }
        } catch {
            storageFailed(error)
            return false
        }
        // Kept here: the relay may let go of it.
        await link.send(ClientFrame.blobDone(blob: item.blob).encoded())
        return true
    }

    private func progress(_ item: ClientStore.Transfer, bytes: Int, upload: Bool) {
        eventSink.yield(.transfer(TransferProgress(messageID: item.messageID, chat: item.chat, bytes: bytes, total: item.size, upload: upload)))
    }

    /// The relay said no: for good (the file is gone, too big, over quota) or for now.
    private func refused(_ item: ClientStore.Transfer, _ error: FrameError) -> Bool {
        blobInbox[item.blob] = nil
        switch error.code {
        case .storageUnavailable, .rateLimited, .internalError, .blobIncomplete:
            logger.info("file transfer paused", metadata: ["blob": "\(item.blob)", "reason": "\(error.message)"])
            return false
        case .unknownBlob where item.state == .pending:
            return fail(item, "it is no longer on the relay (files are kept until everyone has them, at most as long as undelivered messages)")
        default:
            return fail(item, "the relay refused it: \(error.message)")
        }
    }

    private func fail(_ item: ClientStore.Transfer, _ reason: String) -> Bool {
        if let record = try? store.transferFailed(blob: item.blob, reason: "\(item.name): \(reason)") {
            eventSink.yield(.messageUpdated(record))
            if item.state == .uploading { settled(record) }
        }
        if let spool = item.spoolPath { try? FileManager.default.removeItem(atPath: spool) }
        return true
    }

    // MARK: - Relay answers

    func blobArrived(_ blob: String, _ reply: BlobReply) {
        if let waiter = blobWaiters.removeValue(forKey: blob) {
            waiter.resume(reply)
        } else {
            blobInbox[blob, default: []].append(reply)
        }
    }

    /// The next answer about `blob`; nil when the connection ends first.
    private func blobReply(_ blob: String) async -> BlobReply? {
        if var queued = blobInbox[blob], !queued.isEmpty {
            let first = queued.removeFirst()
            blobInbox[blob] = queued.isEmpty ? nil : queued
            return first
        }
        guard link != nil else { return nil }
        let waiter = Waiter<BlobReply?>(cancelled: nil)
        blobWaiters[blob] = waiter
        return await waiter.wait()
    }

    private func notifyTransferWaiters() {
        let waiters = transferWaiters
        transferWaiters = []
        for waiter in waiters { waiter.resume(()) }
    }

    /// The connection ended: every transfer waiting for the relay stops, to resume on the next.
    func failBlobWaits() {
        let waiters = blobWaiters
        blobWaiters = [:]
        blobInbox = [:]
        for waiter in waiters.values { waiter.resume(nil) }
    }

    /// Waits until no file is left to upload or download (done, or failed for good).
    public func waitUntilTransfersDone() async {
        while ((try? store.pendingTransfers().isEmpty) ?? true) == false {
            if Task.isCancelled { return }
            Task { await self.runTransfers() }
            let waiter = Waiter<Void>(cancelled: ())
            transferWaiters.append(waiter)
            await waiter.wait()
        }
    }

    // MARK: - Saving

    /// Copies a received (or sent) file into `directory` under its name (made unique), after
    /// downloading it if needed; returns the path.
    public func save(messageID id: String, chat: String, to directory: String) async throws -> String {
        guard let item = try store.transfer(messageID: id, chat: chat) else { throw EngineError.fileProblem("message \(id) has no file") }
        if item.state == .pending {
            Task { await self.runTransfers() }
            while let current = try store.transfer(blob: item.blob), current.state == .pending {
                if Task.isCancelled { throw EngineError.fileProblem("not downloaded yet: \(lastFailure ?? "the relay is not reachable")") }
                let waiter = Waiter<Void>(cancelled: ())
                transferWaiters.append(waiter)
                await waiter.wait()
            }
        }
        guard let current = try store.transfer(blob: item.blob), let record = try store.message(inChat: chat, id: id), let source = record.attachment?.localPath,
              FileManager.default.fileExists(atPath: source)
        else {
            throw EngineError.fileProblem(try store.message(inChat: chat, id: id)?.attachment?.failure ?? "the file is not on this computer any more")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EngineError.fileProblem("\(directory) is not a directory")
        }
        let destination = Self.unusedPath(in: directory, name: current.name)
        do {
            try FileManager.default.copyItem(atPath: source, toPath: destination)
        } catch {
            throw StorageFault(error).map { EngineError.storage($0.describe(whose: "this computer's")) } ?? EngineError.fileProblem("could not save to \(destination): \(error)")
        }
        // The profile's copy is the owner's only; a saved one is an ordinary file (the umask decides).
        let mask = umask(0o022)
        umask(mask)
        try? FileManager.default.setAttributes([.posixPermissions: 0o666 & ~Int(mask)], ofItemAtPath: destination)
        try store.setSavedPath(blob: item.blob, destination)
        if let updated = try store.message(inChat: chat, id: id) { eventSink.yield(.messageUpdated(updated)) }
        return destination
    }

    /// `name`, or "name (2).ext", "name (3).ext"… whichever is free in `directory`.
    static func unusedPath(in directory: String, name: String) -> String {
        let base = (name as NSString).deletingPathExtension
        let ext = (name as NSString).pathExtension
        var candidate = (directory as NSString).appendingPathComponent(name)
        var number = 2
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = (directory as NSString).appendingPathComponent("\(base) (\(number))" + (ext.isEmpty ? "" : "." + ext))
            number += 1
        }
        return candidate
    }
}
