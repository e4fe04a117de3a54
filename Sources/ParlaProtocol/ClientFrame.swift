import Foundation

/// Everything a client may send to the relay (see docs/PROTOCOL.md).
public enum ClientFrame: Sendable, Equatable {
    case register(Register)
    case login(Login)
    case send(Send)
    case confirm(Confirm)
    case read(Read)
    case typing(Typing)
    case getKeys(GetKeys)

    public struct Register: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var signingKey: Data
        public var agreementKey: Data
        public var timestamp: Int64
        public var signature: Data
        public var invite: String?

        public init(version: Int = ProtocolVersion.current, name: String, signingKey: Data, agreementKey: Data, timestamp: Int64, signature: Data, invite: String? = nil) {
            self.version = version
            self.name = name
            self.signingKey = signingKey
            self.agreementKey = agreementKey
            self.timestamp = timestamp
            self.signature = signature
            self.invite = invite
        }
    }

    public struct Login: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var timestamp: Int64
        public var signature: Data

        public init(version: Int = ProtocolVersion.current, name: String, timestamp: Int64, signature: Data) {
            self.version = version
            self.name = name
            self.timestamp = timestamp
            self.signature = signature
        }
    }

    public struct Send: Sendable, Equatable {
        public var id: String
        public var to: String
        public var body: Data

        public init(id: String, to: String, body: Data) {
            self.id = id
            self.to = to
            self.body = body
        }
    }

    public struct Confirm: Sendable, Equatable {
        public var ids: [String]
        public init(ids: [String]) { self.ids = ids }
    }

    public struct Read: Sendable, Equatable {
        public var id: String
        public var to: String
        public var messageIds: [String]

        public init(id: String, to: String, messageIds: [String]) {
            self.id = id
            self.to = to
            self.messageIds = messageIds
        }
    }

    public struct Typing: Sendable, Equatable {
        public var to: String
        public init(to: String) { self.to = to }
    }

    public struct GetKeys: Sendable, Equatable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    /// The frame's `type` string on the wire.
    public var type: String {
        switch self {
        case .register: "register"
        case .login: "login"
        case .send: "send"
        case .confirm: "confirm"
        case .read: "read"
        case .typing: "typing"
        case .getKeys: "getKeys"
        }
    }

    /// Parses one text frame. Unknown fields are ignored; anything else wrong is a `FrameError`.
    public static func decode(_ text: some StringProtocol) throws(FrameError) -> ClientFrame {
        try decodeFrame(ClientFrame.self, from: Data(text.utf8))
    }

    public func encoded() -> String { encodeFrame(self) }
}

extension ClientFrame: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FieldKey.self)
        let type = try c.string(.type)
        switch type {
        case "register":
            self = .register(Register(
                version: try c.int(.version), name: try c.string(.name),
                signingKey: try c.bytes(.signingKey), agreementKey: try c.bytes(.agreementKey),
                timestamp: try c.int64(.timestamp), signature: try c.bytes(.signature),
                invite: try c.optionalString(.invite)))
        case "login":
            self = .login(Login(
                version: try c.int(.version), name: try c.string(.name),
                timestamp: try c.int64(.timestamp), signature: try c.bytes(.signature)))
        case "send":
            let id = try c.string(.id)
            do {
                self = .send(Send(id: id, to: try c.string(.to), body: try c.bytes(.body)))
            } catch var error as FrameError {
                error.ref = id
                throw error
            }
        case "confirm":
            self = .confirm(Confirm(ids: try c.strings(.ids)))
        case "read":
            let id = try c.string(.id)
            do {
                self = .read(Read(id: id, to: try c.string(.to), messageIds: try c.strings(.messageIds)))
            } catch var error as FrameError {
                error.ref = id
                throw error
            }
        case "typing":
            self = .typing(Typing(to: try c.string(.to)))
        case "getKeys":
            self = .getKeys(GetKeys(name: try c.string(.name)))
        default:
            throw FrameError(.unknownType, "unknown frame type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FieldKey.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .register(let f):
            try c.encode(f.version, forKey: .version)
            try c.encode(f.name, forKey: .name)
            try c.encodeBytes(f.signingKey, forKey: .signingKey)
            try c.encodeBytes(f.agreementKey, forKey: .agreementKey)
            try c.encode(f.timestamp, forKey: .timestamp)
            try c.encodeBytes(f.signature, forKey: .signature)
            try c.encodeIfPresent(f.invite, forKey: .invite)
        case .login(let f):
            try c.encode(f.version, forKey: .version)
            try c.encode(f.name, forKey: .name)
            try c.encode(f.timestamp, forKey: .timestamp)
            try c.encodeBytes(f.signature, forKey: .signature)
        case .send(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.to, forKey: .to)
            try c.encodeBytes(f.body, forKey: .body)
        case .confirm(let f):
            try c.encode(f.ids, forKey: .ids)
        case .read(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.to, forKey: .to)
            try c.encode(f.messageIds, forKey: .messageIds)
        case .typing(let f):
            try c.encode(f.to, forKey: .to)
        case .getKeys(let f):
            try c.encode(f.name, forKey: .name)
        }
    }
}
