import Foundation

/// Files only their owner may read: the relay's database (who talks to whom, waiting
/// ciphertext) and a client's (its whole history in plaintext). Shared by relay and client,
/// which each keep a SQLite database plus the -wal and -shm files SQLite makes next to it
/// (with the database file's own mode).
public enum PrivateStorage {
    /// Creates `directory` (0700) if needed, makes it 0700, and makes `file` in it exist with
    /// mode 0600 before SQLite opens it; an existing file is set to 0600 too.
    public static func prepare(directory: String, file: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        let path = (directory as NSString).appendingPathComponent(file)
        if !manager.fileExists(atPath: path) {
            manager.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: path + suffix) {
            try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path + suffix)
        }
    }

    /// What others may do with `path` that they should not: nil when only the owner has access.
    public static func exposure(of path: String) -> String? {
        guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int else { return nil }
        guard mode & 0o077 != 0 else { return nil }
        return "\(path) is readable by others (mode \(String(mode & 0o777, radix: 8))): chmod \(isDirectory(path) ? "700" : "600") \(path)"
    }

    private static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }
}
