import Foundation

/// The relay addresses people type, made into the one the relay serves.
public enum RelayURL {
    /// Where a relay takes WebSocket connections.
    public static let defaultPath = "/v1"

    /// `ws://HOST:PORT` gains the default path; anything that is not a ws:// or wss:// URL
    /// with a host is refused with what to write instead.
    public static func normalized(_ typed: String) throws(TransportError) -> String {
        let text = typed.trimmingCharacters(in: .whitespaces)
        guard text.contains("://") else { throw .invalidURL(typed, hint: "write ws://\(text.isEmpty ? "HOST:PORT" : text) (or wss:// for TLS)") }
        guard var parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased() else {
            throw .invalidURL(typed, hint: nil)
        }
        switch scheme {
        case "ws", "wss": break
        case "http": throw .invalidURL(typed, hint: "a relay speaks WebSocket: write ws://\(parts.host ?? "HOST")\(parts.port.map { ":\($0)" } ?? "")")
        case "https": throw .invalidURL(typed, hint: "a relay speaks WebSocket: write wss://\(parts.host ?? "HOST")\(parts.port.map { ":\($0)" } ?? "")")
        default: throw .invalidURL(typed, hint: nil)
        }
        guard let host = parts.host, !host.isEmpty else { throw .invalidURL(typed, hint: "the host is missing") }
        parts.scheme = scheme
        if parts.path.isEmpty || parts.path == "/" { parts.path = defaultPath }
        return parts.string ?? text
    }

    /// A relay run as several nodes is reached at any of them: `--server` takes their URLs
    /// separated by commas, each normalized, each once, in the order given.
    public static func normalizedList(_ typed: String) throws(TransportError) -> String {
        var nodes: [String] = []
        for part in typed.split(separator: ",", omittingEmptySubsequences: false) {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { throw .invalidURL(typed, hint: "an empty entry in the list: separate the nodes' URLs with single commas") }
            let url = try normalized(text)
            if !nodes.contains(url) { nodes.append(url) }
        }
        return nodes.joined(separator: ",")
    }

    /// The nodes of a relay address that may list several (see `normalizedList`).
    public static func nodes(_ server: String) -> [String] {
        let nodes = server.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return nodes.isEmpty ? [server] : nodes
    }

    /// A warning for `ws://` to anything but this machine: the login and every frame cross the
    /// network unencrypted (messages stay end-to-end encrypted; who talks to whom, and the
    /// relay's answers, do not), and at `init` whoever answers can pin its own relay key.
    /// Nil for `wss://` and loopback.
    public static func insecureWarning(for url: String) -> String? {
        let nodes = nodes(url)
        if nodes.count > 1 { return nodes.lazy.compactMap(insecureWarning(for:)).first }
        guard let parts = URLComponents(string: url), parts.scheme == "ws", let host = parts.host?.lowercased() else { return nil }
        if isLoopback(host) { return nil }
        return "\(url) is not encrypted (ws://): anyone on the network between you and \(host) can see who you talk to "
            + "and stand in for the relay; use wss:// (parla-relay --tls-cert/--tls-key)"
    }

    /// Registration pins the relay's key, so it must not happen over plain `ws://` to another
    /// machine unless the user says so (`--insecure`): whoever answers on the way would be
    /// pinned as the relay for good.
    public static func checkSafeForRegistration(_ url: String, allowInsecure: Bool) throws(TransportError) {
        guard !allowInsecure, let warning = insecureWarning(for: url) else { return }
        throw .insecure(warning)
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare.hasSuffix(".localhost") { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, bare, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        let mappedV4 = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
        return bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1 || mappedV4 && bytes[12] == 127
    }

    /// The name TLS checks the relay's certificate against. A DNS host is its own name (nil:
    /// the library uses it). An IP literal cannot be sent as SNI, and putting a DNS name in its
    /// place (this code once sent "localhost") lets any certificate for that name stand in for
    /// any address; a name under `.invalid` (RFC 6761) matches no certificate's DNS names, so
    /// only an IP address entry equal to the connected address passes.
    static func tlsServerName(for host: String) -> String? {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard isIPAddress(bare) else { return nil }
        return "ip-" + bare.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined() + ".invalid"
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// A library's connection error as one line that says what went wrong and what to try.
    static func explain(_ error: any Error, url: String) -> String {
        let text = String(describing: error) + " " + String(reflecting: error)
        let parts = URLComponents(string: url)
        let host = parts?.host ?? "the relay"
        let port = parts?.port.map(String.init) ?? (parts?.scheme == "wss" ? "443" : "80")
        let where_ = "\(host):\(port)"
        let lower = text.lowercased()
        if lower.contains("refused") || lower.contains("errno: 111") || lower.contains("econnrefused") {
            return "connection refused at \(where_): is parla-relay running there, on that port?"
        }
        if lower.contains("dns") || lower.contains("name resolution") || lower.contains("resolve") || lower.contains("unknown host")
            || lower.contains("eai_") || lower.contains("nodename") {
            return "cannot find the host '\(host)': check the name (and the network)"
        }
        if parts?.scheme == "wss", lower.contains("ssl") || lower.contains("tls") || lower.contains("handshake") || lower.contains("wrong version") {
            return "TLS failed with \(where_): if the relay runs without a certificate, use ws:// instead of wss:// (\(shortened(text)))"
        }
        if lower.contains("upgrade") || lower.contains("unexpected") || lower.contains("invalid http") || lower.contains("badresponse") {
            if parts?.scheme == "ws" {
                return "\(where_) did not accept a WebSocket at \(parts?.path ?? defaultPath): if the relay uses TLS, use wss://; else check the path (default \(defaultPath))"
            }
            return "\(where_) did not accept a WebSocket at \(parts?.path ?? defaultPath): check the path (default \(defaultPath))"
        }
        if lower.contains("unreachable") || lower.contains("errno: 113") || lower.contains("errno: 101") {
            return "no route to \(where_): check the address and the network"
        }
        if lower.contains("timed out") || lower.contains("timeout") {
            return "\(where_) did not answer in time: check the address, a firewall, or the network"
        }
        return shortened(text)
    }

    /// Why a connection may have hung: TLS on one side and not the other waits forever.
    static func timeoutCause(url: String, after timeout: Duration) -> String {
        let parts = URLComponents(string: url)
        let where_ = "\(parts?.host ?? "the relay"):\(parts?.port.map(String.init) ?? (parts?.scheme == "wss" ? "443" : "80"))"
        let hint = parts?.scheme == "wss" ? "if the relay runs without a certificate, use ws:// instead of wss://"
            : "if the relay uses TLS, use wss://; else check the address, a firewall, or the network"
        return "\(where_) did not answer within \(timeout.components.seconds) s: \(hint)"
    }

    private static func shortened(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? text
        return line.count > 160 ? String(line.prefix(159)) + "…" : line
    }
}
