/// Why a write to disk failed, said so a person can act on it instead of as a database error
/// code: no room (SQLite's SQLITE_FULL, ENOSPC), or the disk refused the write (SQLITE_IOERR:
/// a file-size limit, a failing disk). Matched on the error's text so relay and client (each
/// on its own SQLite layer) share one rule.
public enum StorageFault: Sendable, Equatable {
    case full
    case writeFailed

    public init?(_ error: any Error) {
        let text = (String(describing: error) + " " + String(reflecting: error)).lowercased()
        if text.contains("sqlite error 13") || text.contains("disk is full") || text.contains("no space left") {
            self = .full
        } else if text.contains("sqlite error 10") || text.contains("disk i/o error") || text.contains("file too large") {
            self = .writeFailed
        } else {
            return nil
        }
    }

    /// "the relay's disk is full" / "this computer's disk is full", and so on.
    public func describe(whose: String) -> String {
        switch self {
        case .full: "\(whose) disk is full"
        case .writeFailed: "\(whose) disk refused the write (full, over a size limit, or failing)"
        }
    }
}
