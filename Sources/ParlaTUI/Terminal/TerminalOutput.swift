import Foundation

/// Raw writes to the terminal that never trap. `FileHandle.write(_:)` crashes the
/// process on EIO, which is exactly what a write gets after an SSH link drops, and
/// the UI must then still shut down cleanly (the outbox is on disk either way).
enum TerminalOutput {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return } // the terminal is gone: nothing left to tell it
            bytes = bytes.dropFirst(written)
        }
    }
}
