import Foundation
import Logging

/// Appends log lines to a file. Interactive commands use it because their
/// stdout and stderr belong to the user (and, in the TUI, to the screen).
public struct FileLogHandler: LogHandler {
    private let file: LogFile
    private let label: String
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init(label: String, path: String) {
        self.label = label
        self.file = LogFile.shared(path: path)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let meta = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let stamp = ISO8601DateFormatter().string(from: Date())
        file.append("\(stamp) \(event.level) \(label):\(meta) \(event.message)\n")
    }
}

final class LogFile: @unchecked Sendable {
    private static let registry = NSLock()
    nonisolated(unsafe) private static var files: [String: LogFile] = [:]
    private let lock = NSLock()
    private let descriptor: Int32

    static func shared(path: String) -> LogFile {
        registry.withLock {
            if let file = files[path] { return file }
            let file = LogFile(path: path)
            files[path] = file
            return file
        }
    }

    private init(path: String) {
        // O_APPEND: each line lands whole at the end even when two processes log to one file.
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    }

    func append(_ line: String) {
        guard descriptor >= 0 else { return }
        let bytes = Array(line.utf8)
        lock.withLock { _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } }
    }
}
