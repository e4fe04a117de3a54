import Foundation
import Logging
import ParlaClient

/// `files`: one real ParlaClient sends a file of --size-mb MiB to another through the relay;
/// measures sealing it into the profile, uploading it (engine start to "sent"), and the
/// recipient downloading, checking and keeping it, in MiB/s, next to this disk's own write
/// speed for the same bytes (synced once at the end, and synced per 128 KiB chunk as the
/// relay does before acknowledging each one).
public struct FileTransferScenario: Sendable {
    public struct Result: Codable, Sendable, Equatable {
        public var scenario = "files"
        public var sizeMiB: Int
        public var sealSeconds: Double
        public var uploadSeconds: Double
        public var uploadMiBPerSecond: Double
        public var downloadSeconds: Double
        public var downloadMiBPerSecond: Double
        public var identical: Bool
        public var diskWriteMiBPerSecond: Double
        public var diskWriteSyncedPerChunkMiBPerSecond: Double
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public var options: LoadOptions
    public var sizeMiB: Int
    let logger: Logger

    public init(options: LoadOptions, sizeMiB: Int, logger: Logger) {
        self.options = options
        self.sizeMiB = sizeMiB
        self.logger = logger
    }

    public func run() async throws -> Result {
        let relay = try await BenchRelay.start(server: options.server, relayPID: options.relayPID)
        defer { Task { await relay.stop() } }
        let prefix = runPrefix()
        let transport = WebSocketTransport(logger: logger)
        let root = NSTemporaryDirectory() + "/parla-bench-files-\(prefix)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let bytes = sizeMiB << 20
        let source = root + "/payload.bin"
        try Self.writeRandom(bytes, to: source)
        let baseline = try Self.diskWrite(bytes, in: root, syncEveryChunk: false)
        let syncedBaseline = try Self.diskWrite(bytes, in: root, syncEveryChunk: true)

        let senderProfile = try await ParlaClient.register(name: "\(prefix)-s", server: relay.url, invite: nil, directory: root + "/s", transport: transport)
        let receiverProfile = try await ParlaClient.register(name: "\(prefix)-r", server: relay.url, invite: nil, directory: root + "/r", transport: transport)
        let sender = try ParlaClient(profile: senderProfile, transport: transport, logger: logger)
        let sealStarted = ContinuousClock.now
        let record = try await sender.sendFile(at: source, to: receiverProfile.name)
        let sealSeconds = (ContinuousClock.now - sealStarted).seconds
        let uploadStarted = ContinuousClock.now
        let senderTask = Task { await sender.run() }
        let sent = await sender.waitUntilSettled(id: record.id)
        guard let sent, sent.status == .sent || sent.status == .delivered else {
            throw Failure(description: "the upload did not finish: \(await sender.lastFailure ?? sent?.failureReason ?? "unknown")")
        }
        let uploadSeconds = (ContinuousClock.now - uploadStarted).seconds
        senderTask.cancel()
        await senderTask.value

        let receiver = try ParlaClient(profile: receiverProfile, transport: transport, logger: logger)
        let downloadStarted = ContinuousClock.now
        let receiverTask = Task { await receiver.run() }
        await receiver.waitUntilSynced()
        await receiver.waitUntilTransfersDone()
        let downloadSeconds = (ContinuousClock.now - downloadStarted).seconds
        let copy = try receiver.store.message(inChat: senderProfile.name, id: record.id)?.attachment
        receiverTask.cancel()
        await receiverTask.value
        let identical = copy?.state == .downloaded && copy?.localPath.map { FileManager.default.contentsEqual(atPath: $0, andPath: source) } == true
        let mib = Double(sizeMiB)
        return Result(sizeMiB: sizeMiB, sealSeconds: sealSeconds, uploadSeconds: uploadSeconds, uploadMiBPerSecond: mib / uploadSeconds,
                      downloadSeconds: downloadSeconds, downloadMiBPerSecond: mib / downloadSeconds, identical: identical,
                      diskWriteMiBPerSecond: mib / baseline, diskWriteSyncedPerChunkMiBPerSecond: mib / syncedBaseline)
    }

    private static func writeRandom(_ bytes: Int, to path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var generator = SystemRandomNumberGenerator()
        var left = bytes
        while left > 0 {
            let count = min(left, 1 << 20)
            var chunk = [UInt8](repeating: 0, count: count)
            for index in stride(from: 0, to: count, by: 8) {
                withUnsafeBytes(of: generator.next()) { random in
                    for offset in 0..<min(8, count - index) { chunk[index + offset] = random[offset] }
                }
            }
            try handle.write(contentsOf: chunk)
            left -= count
        }
    }

    /// Seconds to write `bytes` in 128 KiB chunks and sync (once, or after every chunk).
    private static func diskWrite(_ bytes: Int, in directory: String, syncEveryChunk: Bool) throws -> Double {
        let path = directory + "/baseline-\(syncEveryChunk ? "chunked" : "once").bin"
        FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let chunk = Data(repeating: 0xA5, count: 128 * 1024)
        let started = ContinuousClock.now
        for _ in 0..<(bytes / chunk.count) {
            try handle.write(contentsOf: chunk)
            if syncEveryChunk { try handle.synchronize() }
        }
        try handle.synchronize()
        return (ContinuousClock.now - started).seconds
    }
}

extension FileTransferScenario.Result {
    public var summary: String {
        """
        files: one \(sizeMiB) MiB file between two real ParlaClients through the relay (identical on arrival: \(identical))
          sealed into the profile in \(format(sealSeconds)) s
          upload \(format(uploadSeconds)) s: \(format(uploadMiBPerSecond)) MiB/s · download, check and keep \(format(downloadSeconds)) s: \(format(downloadMiBPerSecond)) MiB/s
          this disk, same bytes in 128 KiB writes: \(format(diskWriteMiBPerSecond)) MiB/s synced once, \(format(diskWriteSyncedPerChunkMiBPerSecond)) MiB/s synced per chunk
        """
    }
}
