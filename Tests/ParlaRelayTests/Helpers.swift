import Foundation
import NIOCore
import NIOWebSocket
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// A registered test user: its keys and a way to open connections as it.
struct TestUser {
    let name: String
    let keys: IdentityKeys
    let relay: TestRelay

    static func register(_ name: String, on relay: TestRelay) async throws -> TestUser {
        let user = TestUser(name: name, keys: IdentityKeys(), relay: relay)
        let client = try await RelayTestClient.online(relay.url, name: name, keys: user.keys, register: true)
        await client.close()
        return user
    }

    func connect() async throws -> RelayTestClient {
        try await RelayTestClient.online(relay.url, name: name, keys: keys)
    }

    /// Connects and checks the mailbox is empty (`queueEmpty` right after `welcome`).
    func connectIdle() async throws -> RelayTestClient {
        let client = try await connect()
        let frame = try await client.next()
        #expect(frame == .queueEmpty, "expected an empty mailbox, got \(frame.encoded())")
        return client
    }

    func connect(to relay: TestRelay) async throws -> RelayTestClient {
        try await RelayTestClient.online(relay.url, name: name, keys: keys)
    }
}

extension RelayTestClient {
    /// The next frame that is not a group event (each event met is confirmed).
    func nextNonEvent() async throws -> RelayFrame {
        while true {
            let frame = try await next()
            if case .groupEvent(let event) = frame {
                send(.confirm(.init(ids: [event.id])))
                continue
            }
            return frame
        }
    }

    func send(id: String, to: String, text: String) {
        send(.send(.init(id: id, to: to, body: Data(text.utf8))))
    }

    /// Expects the next frame to be an error with `code`.
    func expectError(_ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation) async throws -> FrameError {
        let frame = try await next()
        guard case .error(let error) = frame else {
            Issue.record("expected error \(code.rawValue), got \(frame.encoded())", sourceLocation: sourceLocation)
            return FrameError(.internalError, "")
        }
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    }

    func expectAck(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let frame = try await next()
        #expect(frame == .ack(id: id), "got \(frame.encoded())", sourceLocation: sourceLocation)
    }

    /// Collects messages until `queueEmpty` (or until `count` messages arrived, if given).
    /// With `confirm`, each message is confirmed as it arrives, so the window keeps moving.
    func receiveMessages(count: Int? = nil, confirm: Bool = false, timeout: Duration = .seconds(10)) async throws -> [RelayFrame.Message] {
        var messages: [RelayFrame.Message] = []
        while count.map({ messages.count < $0 }) ?? true {
            let frame = try await next(timeout: timeout)
            switch frame {
            case .message(let message):
                messages.append(message)
                if confirm { send(.confirm(.init(ids: [message.id]))) }
            case .queueEmpty: if count == nil { return messages }
            default: continue
            }
        }
        return messages
    }

    func nextReceipt(timeout: Duration = .seconds(5)) async throws -> RelayFrame.Receipt {
        while true {
            if case .receipt(let receipt) = try await next(timeout: timeout) { return receipt }
        }
    }

    /// Asserts nothing arrives for a short while.
    func expectSilence(for duration: Duration = .milliseconds(300), sourceLocation: SourceLocation = #_sourceLocation) async {
        if let frame = try? await next(timeout: duration) {
            Issue.record("expected nothing, got \(frame.encoded())", sourceLocation: sourceLocation)
        }
    }
}

extension Data {
    func contains(marker: String) -> Bool {
        range(of: Data(marker.utf8)) != nil
    }
}

func uniqueMarker() -> String {
    "MARKER-\(UUID().uuidString)"
}

extension WebSocketFrame {
    /// A frame as a client sends it: masked (RFC 6455 §5.1), with the data masked on the wire.
    static func fromClient(fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode, data: ByteBuffer) -> WebSocketFrame {
        let key: WebSocketMaskingKey = [0x37, 0xFA, 0x21, 0x3D]
        var masked = data
        masked.webSocketMask(key)
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, data: masked)
    }
}

/// The stores a relay test runs against: the embedded SQLite and a PostgreSQL node.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    var description: String { rawValue }

    func startRelay(configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> TestRelay {
        switch self {
        case .sqlite: try await TestRelay.start(configure: configure)
        case .postgres: try await TestRelay.startOnOwnPostgres(configure: configure)
        }
    }
}
