import Foundation
import NIOCore
import ParlaCrypto
import ParlaProtocol
import ParlaRelayTesting

/// One simulated user: a name, identity keys and a `LoadConnection` logged in to the relay.
/// After login every frame goes to `onFrame`, on the connection's event loop.
public final class BenchPeer: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case refused(String)
        case unexpected(String)

        public var description: String {
            switch self {
            case .refused(let why): "the relay refused the login: \(why)"
            case .unexpected(let frame): "unexpected frame during login: \(frame)"
            }
        }
    }

    public let index: Int
    public let name: String
    public let keys: IdentityKeys
    public private(set) var connection: LoadConnection?
    /// Frames after login, with their `type`; runs on the event loop.
    public var onFrame: (String, ByteBuffer) -> Void = { _, _ in }
    /// After each read burst: the place to flush what the frames asked for.
    public var onReadComplete: () -> Void = {}
    public private(set) var closed = false

    public init(index: Int, prefix: String) {
        self.index = index
        self.name = "\(prefix)-\(index)"
        self.keys = IdentityKeys()
    }

    /// The same user again, for a new connection (a login after going offline).
    public init(reconnecting other: BenchPeer) {
        index = other.index
        name = other.name
        keys = other.keys
    }

    public enum Login: Sendable {
        case register, login
        /// The bare baseline relay: no keys, just a name.
        case bare
    }

    /// Connects and registers (first time) or logs in; returns when `welcome` arrives.
    public func connect(url: String, as login: Login, sourceAddress: String? = nil, group: any EventLoopGroup) async throws {
        let eventLoop = group.next()
        let welcomed = eventLoop.makePromise(of: Void.self)
        let state = LoginState()
        let connection: LoadConnection
        do {
            connection = try await open(url: url, as: login, sourceAddress: sourceAddress, on: eventLoop, state: state, welcomed: welcomed)
        } catch {
            // Failed before the handlers could complete it; an abandoned promise is a crash in debug builds.
            welcomed.fail(error)
            throw error
        }
        eventLoop.execute {
            state.connection = connection
            if let auth = state.pendingAuth { connection.send(auth) }
            if login == .bare { connection.send(BareRelay.hello(name: self.name)) }
        }
        self.connection = connection
        do {
            try await welcomed.futureResult.get()
        } catch {
            connection.close()
            throw error
        }
    }

    private func open(url: String, as login: Login, sourceAddress: String?, on eventLoop: any EventLoop, state: LoginState,
                      welcomed: EventLoopPromise<Void>) async throws -> LoadConnection {
        try await LoadConnection.open(url: url, sourceAddress: sourceAddress, group: eventLoop, onText: { [weak self] buffer in
            guard let self else { return }
            if state.loggedIn {
                self.onFrame(FrameScan.type(of: buffer) ?? "", buffer)
                return
            }
            let text = String(buffer: buffer)
            if debugFrames { FileHandle.standardError.write(Data("[\(self.name)] <- \(text.prefix(120))\n".utf8)) }
            guard let frame = try? RelayFrame.decode(text) else {
                welcomed.fail(Failure.unexpected(text))
                return
            }
            switch frame {
            case .challenge(let challenge):
                let auth = login == .register ? AuthFrames.register(challenge: challenge, name: self.name, keys: self.keys)
                                              : AuthFrames.login(challenge: challenge, name: self.name, keys: self.keys)
                // The challenge can beat `open` returning; then the answer waits for the connection.
                if debugFrames { FileHandle.standardError.write(Data("[\(self.name)] -> auth (connection ready: \(state.connection != nil))\n".utf8)) }
                if let connection = state.connection { connection.send(auth.encoded()) } else { state.pendingAuth = auth.encoded() }
            case .welcome:
                state.loggedIn = true
                welcomed.succeed(())
            case .error(let error):
                welcomed.fail(Failure.refused(error.message))
            default:
                break
            }
        }, onReadComplete: { [weak self] in
            if state.loggedIn { self?.onReadComplete() }
        }, onClose: { [weak self] in
            self?.closed = true
            welcomed.fail(LoadConnection.Failure.closed)
        })
    }

    public func send(_ texts: [String]) { connection?.send(texts) }

    public func close() {
        connection?.close()
    }

    /// Touched only on the connection's event loop.
    private final class LoginState: @unchecked Sendable {
        var loggedIn = false
        var connection: LoadConnection?
        var pendingAuth: String?
    }
}

private let debugFrames = ProcessInfo.processInfo.environment["PARLA_BENCH_DEBUG"] != nil

/// Frames the load generator writes, built by interpolation (the relay parses them fully;
/// the generator need not pay for an encoder).
enum BenchFrames {
    static func send(id: String, to: String, body: String) -> String {
        #"{"type":"send","id":"\#(id)","to":"\#(to)","body":"\#(body)"}"#
    }

    static func confirm(_ ids: ArraySlice<String>) -> String {
        #"{"type":"confirm","ids":["\#(ids.joined(separator: "\",\""))"]}"#
    }

    /// A random body of `size` bytes, base64 as the protocol carries it.
    static func body(size: Int) -> String {
        Data((0..<size).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }
}
