import Foundation
import NIOSSL
import PostgresNIO

/// Where the relay's PostgreSQL is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`,
/// or a Unix socket with an empty host (`postgres://USER@/DB`, `?host=/var/run/postgresql`).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require, verifyFull = "verify-full" }

    public var host: String?
    public var socketPath: String?
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme?.lowercased() ?? "") else {
            throw Invalid(description: "'\(Self.redacted(text))' is not a PostgreSQL URL; write postgres://USER@HOST/DATABASE")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(description: "'\(Self.redacted(text))' names no user; write postgres://USER@HOST/DATABASE")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw Invalid(description: "'\(Self.redacted(text))' names no database; write postgres://USER@HOST/DATABASE")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        if let unknown = query.keys.first(where: { !["sslmode", "host"].contains($0) }) {
            throw Invalid(description: "unknown option '\(unknown)' in the PostgreSQL URL (known: sslmode, host)")
        }
        let tls = query["sslmode"].map { TLSMode(rawValue: $0) } ?? .prefer
        guard let tls else {
            throw Invalid(description: "sslmode '\(query["sslmode"] ?? "")' is not one of disable, prefer, require, verify-full")
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        self.socketPath = host == nil ? (query["host"] ?? "/var/run/postgresql") + "/.s.PGSQL.\(components.port ?? 5432)" : nil
        self.host = host
        self.port = components.port ?? 5432
        self.username = user
        self.password = components.password
        self.database = database
        self.tls = tls
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        "postgres://\(username)@\(host ?? "")\(host == nil ? "" : ":\(port)")/\(database)" + (socketPath.map { " (socket \($0))" } ?? "")
    }

    static func redacted(_ text: String) -> String {
        text.replacingOccurrences(of: #":[^:@/]*@"#, with: ":***@", options: .regularExpression)
    }

    /// `prefer` and `require` encrypt without checking the certificate (as libpq does);
    /// `verify-full` checks it against the system's trust store and the host name.
    private var tlsConfiguration: TLSConfiguration? {
        guard tls != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls != .verifyFull { configuration.certificateVerification = .none }
        return configuration
    }

    var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: username, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS = switch (self.tls, tlsConfiguration) {
            case (.prefer, let context?): .prefer(context)
            case (_, let context?): .require(context)
            case (_, nil): .disable
            }
            configuration = .init(host: host!, port: port, username: username, password: password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// The same, for the single connection that checks the server and builds the schema at start.
    var connectionConfiguration: PostgresConnection.Configuration {
        get throws {
            if let socketPath {
                return .init(unixSocketPath: socketPath, username: username, password: password, database: database)
            }
            let tls: PostgresConnection.Configuration.TLS = switch (self.tls, try tlsConfiguration.map { try NIOSSLContext(configuration: $0) }) {
            case (.prefer, let context?): .prefer(context)
            case (_, let context?): .require(context)
            case (_, nil): .disable
            }
            var configuration = PostgresConnection.Configuration(host: host!, port: port, username: username, password: password, database: database, tls: tls)
            configuration.options.connectTimeout = .seconds(5)
            return configuration
        }
    }
}
