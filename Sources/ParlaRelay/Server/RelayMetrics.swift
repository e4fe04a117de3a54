import Prometheus
import Synchronization

/// The relay's Prometheus metrics, served at `GET /metrics`.
final class RelayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let connections: Gauge
    let messagesAccepted: Counter
    let messagesDelivered: Counter
    let messagesExpired: Counter
    let messagesLive: Counter
    let liveStored: Counter
    let mailboxDepth: Gauge
    let authFailures: Counter
    let protocolErrors: Counter
    let connectionsRefused: Counter
    /// How old the mailbox depth may be when /metrics is read.
    static let mailboxDepthInterval: Duration = .seconds(10)
    private let mailboxDepthCounted = Mutex<ContinuousClock.Instant?>(nil)

    init() {
        connections = registry.makeGauge(name: "parla_connections", help: "Open WebSocket connections")
        messagesAccepted = registry.makeCounter(name: "parla_messages_accepted_total", help: "Messages durably stored and acknowledged")
        messagesDelivered = registry.makeCounter(name: "parla_messages_delivered_total", help: "Messages confirmed by their recipient and deleted")
        messagesExpired = registry.makeCounter(name: "parla_messages_expired_total", help: "Messages deleted undelivered after the TTL")
        messagesLive = registry.makeCounter(name: "parla_messages_live_total", help: "Messages confirmed by an online recipient before the hold time ran out, never stored")
        liveStored = registry.makeCounter(name: "parla_messages_live_stored_total", help: "Messages handed over live but stored after all (late confirmation, refusal or disconnect)")
        mailboxDepth = registry.makeGauge(name: "parla_mailbox_depth", help: "Messages waiting for delivery across all mailboxes")
        authFailures = registry.makeCounter(name: "parla_auth_failures_total", help: "Failed login or registration attempts")
        protocolErrors = registry.makeCounter(name: "parla_protocol_errors_total", help: "Error frames sent to clients")
        connectionsRefused = registry.makeCounter(name: "parla_connections_refused_total",
                                                  help: "Connections closed at once because their address had the most open (--max-connections-per-ip)")
    }

    /// True (and the count taken from now on) when the mailbox depth is older than its interval.
    func mailboxDepthIsStale() -> Bool {
        mailboxDepthCounted.withLock { counted in
            let now = ContinuousClock.now
            if let counted, now - counted < Self.mailboxDepthInterval { return false }
            counted = now
            return true
        }
    }

    func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
