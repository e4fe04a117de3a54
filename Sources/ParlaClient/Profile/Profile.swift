import Foundation
import ParlaCrypto
import ParlaProtocol

/// A user's local identity on this machine: a directory (mode 0700) holding the
/// private keys (`identity.json`, mode 0600) and the database (`parla.sqlite`).
public struct Profile: Sendable {
    public let directory: String
    public let name: String
    public let server: String
    public let keys: IdentityKeys
    /// The relay identity seen at registration; a relay that presents another one is refused.
    public let relayIdentity: String
    /// The relay's Ed25519 key, pinned at `init` (or, for a profile made before relays had
    /// keys, at the first login that presented one); every challenge and welcome must be signed by it.
    public let relayKey: Data?

    public var databasePath: String { (directory as NSString).appendingPathComponent("parla.sqlite") }
    public var logPath: String { (directory as NSString).appendingPathComponent("parla.log") }

    static let identityFile = "identity.json"

    /// What others on this machine could read of the profile (a directory or key file made
    /// readable by hand, or copied with a permissive umask), each with the command that fixes it.
    public var permissionWarnings: [String] {
        [directory, (directory as NSString).appendingPathComponent(Self.identityFile)].compactMap(PrivateStorage.exposure)
    }

    /// `--home`, else `$PARLA_HOME`, else `$XDG_DATA_HOME/parla`, else `~/.local/share/parla`.
    public static func resolveDirectory(home: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let home, !home.isEmpty { return home }
        if let env = environment["PARLA_HOME"], !env.isEmpty { return env }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return (xdg as NSString).appendingPathComponent("parla") }
        let userHome = environment["HOME"] ?? NSHomeDirectory()
        return (userHome as NSString).appendingPathComponent(".local/share/parla")
    }

    public static func exists(at directory: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(identityFile))
    }

    private struct StoredIdentity: Codable {
        var name: String
        var server: String
        var relayIdentity: String
        var relayKey: String?
        var signingPrivateKey: String
        var agreementPrivateKey: String
    }

    /// Loads the profile in `directory`.
    public static func load(from directory: String) throws(ProfileError) -> Profile {
        let path = (directory as NSString).appendingPathComponent(identityFile)
        guard let data = FileManager.default.contents(atPath: path) else { throw .missing(directory) }
        return try decode(data, directory: directory, path: path)
    }

    private static func decode(_ data: Data, directory: String, path: String) throws(ProfileError) -> Profile {
        guard let stored = try? JSONDecoder().decode(StoredIdentity.self, from: data),
              let signing = Data(base64Encoded: stored.signingPrivateKey),
              let agreement = Data(base64Encoded: stored.agreementPrivateKey),
              let keys = try? IdentityKeys(signingPrivate: signing, agreementPrivate: agreement)
        else { throw .damaged(path) }
        let relayKey = try stored.relayKey.map { encoded throws(ProfileError) in
            guard let key = Data(base64Encoded: encoded), key.count == 32 else { throw ProfileError.damaged(path) }
            return key
        }
        return Profile(directory: directory, name: stored.name, server: stored.server, keys: keys, relayIdentity: stored.relayIdentity, relayKey: relayKey)
    }

    static let pendingFile = "identity.pending.json"

    static func pendingPath(in directory: String) -> String { (directory as NSString).appendingPathComponent(pendingFile) }

    /// Keys of a registration whose answer never came, if any.
    static func pending(in directory: String) -> Profile? {
        guard let data = FileManager.default.contents(atPath: pendingPath(in: directory)) else { return nil }
        return try? decode(data, directory: directory, path: pendingPath(in: directory))
    }

    /// A refused registration: its keys were never bound to the name.
    static func discardPending(in directory: String, removingDirectory: Bool) {
        try? FileManager.default.removeItem(atPath: pendingPath(in: directory))
        if removingDirectory, (try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Writes the identity file (or, with `pending`, the registration's keys) atomically with
    /// mode 0600 in a 0700 directory.
    static func save(name: String, server: String, relayIdentity: String, relayKey: Data?, keys: IdentityKeys, in directory: String, pending: Bool = false) throws(ProfileError) {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
            let stored = StoredIdentity(
                name: name, server: server, relayIdentity: relayIdentity, relayKey: relayKey?.base64EncodedString(),
                signingPrivateKey: keys.signingPrivate.base64EncodedString(),
                agreementPrivateKey: keys.agreementPrivate.base64EncodedString())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(stored)
            let path = pending ? pendingPath(in: directory) : (directory as NSString).appendingPathComponent(identityFile)
            let temporary = path + ".tmp"
            fm.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600])
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, path) == 0 else { throw ProfileError.unwritable(path) }
        } catch let error as ProfileError {
            throw error
        } catch {
            throw .unwritable("\(directory): \(error.localizedDescription)")
        }
    }

    public init(directory: String, name: String, server: String, keys: IdentityKeys, relayIdentity: String, relayKey: Data? = nil) {
        self.directory = directory
        self.name = name
        self.server = server
        self.keys = keys
        self.relayIdentity = relayIdentity
        self.relayKey = relayKey
    }

    /// Writes the relay key first seen by a profile made before relays had keys.
    func pinning(relayKey: Data) throws(ProfileError) -> Profile {
        try Self.save(name: name, server: server, relayIdentity: relayIdentity, relayKey: relayKey, keys: keys, in: directory)
        return Profile(directory: directory, name: name, server: server, keys: keys, relayIdentity: relayIdentity, relayKey: relayKey)
    }
}

public enum ProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(String)
    case damaged(String)
    case unwritable(String)
    case alreadyExists(String)

    public var description: String {
        switch self {
        case .missing(let dir): "no Parla profile in \(dir); create one with 'parla init NAME --server URL'"
        case .damaged(let path): "the profile's identity file \(path) is damaged or unreadable"
        case .unwritable(let what): "cannot write the profile: \(what)"
        case .alreadyExists(let dir): "a profile already exists in \(dir); use --home DIR for another one"
        }
    }
}
