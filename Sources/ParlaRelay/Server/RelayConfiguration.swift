import Foundation
import ParlaProtocol

/// Everything `parla-relay` can be told. Defaults work with no flags.
public struct RelayConfiguration: Sendable {
    public enum Registration: String, Sendable, CaseIterable {
        case open, closed
    }

    public var host = "127.0.0.1"
    /// 0 picks a free port; read it back with `Relay.boundPort()`.
    public var port = 7878
    public var dataDirectory = "./parla-data"
    public var registration = Registration.open
    /// How long an undelivered message (or receipt) is kept, in milliseconds.
    public var ttlMillis: Int64 = 30 * 24 * 3600 * 1000
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// With a token, `/metrics` answers only requests with `Authorization: Bearer TOKEN`
    /// (for a relay that listens beyond loopback; the numbers describe its users' traffic).
    public var metricsToken: String?

    /// Largest text frame accepted with an error frame; frames beyond `hardFrameLimit` close the connection (1009).
    public var maxFrameBytes = ProtocolLimits.defaultMaxFrameBytes
    public var hardFrameLimit = 1024 * 1024
    /// Frames per second per connection (0 = unlimited) and the burst allowed above it.
    public var rateLimitPerSecond: Double = 1000
    public var rateLimitBurst: Double = 2000
    /// One-time prekeys kept per user (end-to-end encryption); more are dropped, not stored.
    public var maxOneTimePrekeys = 500
    /// Most members in a group (`--max-group-size`).
    public var maxGroupMembers = GroupLimits.defaultMaxMembers
    public var quota = MailboxQuota()
    /// Disk space set aside so deliveries can be confirmed (and space freed) on a full disk.
    public var diskReserveBytes = 16 << 20
    /// Attachment bytes one user may have waiting on this relay (uploaded, not yet downloaded by all).
    public var blobQuotaBytes = 1 << 30
    /// Unconfirmed deliveries a connection may have outstanding.
    public var deliveryWindow = 256
    /// How long a message handed live to an online recipient waits for its confirmation
    /// before it is stored after all (zero: every message is stored first). See `LiveMessage`.
    public var liveHold: Duration = .seconds(2)
    /// The longest a live message waits while its recipient keeps confirming other items
    /// (it is behind, not gone) before it is stored anyway.
    public var liveHoldLimit: Duration = .seconds(30)
    /// Most message-body bytes one recipient's connection holds live; past it, what it holds
    /// is stored and further messages take the stored route (memory stays bounded).
    public var liveBytesLimit = 8 * 1024 * 1024
    public var authTimeout: Duration = .seconds(10)
    /// How long a new connection may take to send its request head (the WebSocket upgrade),
    /// TLS handshake included.
    public var requestHeadTimeout: Duration = .seconds(10)
    /// How long a plain HTTP connection (`/healthz`, `/metrics`) is kept open between requests.
    public var httpIdleTimeout: Duration = .seconds(30)
    /// Most connections open at once from one IP address (0 = no cap).
    public var maxConnectionsPerAddress = 1000
    public var allowedClockSkewMillis: Int64 = 5 * 60 * 1000
    /// WebSocket ping period; a peer that misses a pong is disconnected.
    public var pingInterval: Duration = .seconds(30)
    /// How often undelivered items past their TTL are swept.
    public var expiryInterval: Duration = .seconds(60)
    /// How soon after deletions the write-ahead log is checkpointed and truncated.
    public var purgeInterval: Duration = .seconds(1)
    /// Longest a busy relay defers purging deleted bytes from the write-ahead log.
    public var purgeMaxDelay: Duration = .seconds(10)
    /// Wall clock in milliseconds since the Unix epoch; injected so tests control time.
    public var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    public init() {}

    /// Parses durations such as `30d`, `12h`, `45m`, `10s`, `500ms` into milliseconds.
    public static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let value = Int64(text.dropLast(suffix.count)), value > 0 else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: factor)
            return overflow ? nil : product
        }
        return nil
    }
}
