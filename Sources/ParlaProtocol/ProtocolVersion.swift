/// The wire protocol version spoken by this build. A relay answers a client that
/// asks for another version with `unsupported_version` and closes.
public enum ProtocolVersion {
    public static let current = 1
    /// WebSocket path the relay serves the protocol on.
    public static let path = "/v1"
}
