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
    case putPrekeys(PutPrekeys)
    case groupCreate(GroupCreate)
    case groupUpdate(GroupUpdate)
    case groupInfo(group: String)
    case groupSend(GroupSend)
    case blobOpen(BlobOpen)
    case blobPut(BlobPut)
    case blobGet(BlobGet)
    /// Downloaded and kept: the relay may forget it for this recipient.
    case blobDone(blob: String)

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
        /// Also hand out a prekey bundle (the signed prekey and one one-time prekey, which is then gone).
        public var bundle: Bool
        public init(name: String, bundle: Bool = false) {
            self.name = name
            self.bundle = bundle
        }
    }

    /// Publishes prekeys for end-to-end encryption; with no keys it only asks how many are left.
    public struct PutPrekeys: Sendable, Equatable {
        public var signedPreKeyId: UInt32?
        public var signedPreKey: Data?
        public var signedPreKeySignature: Data?
        public var oneTimePreKeyIds: [UInt32]
        public var oneTimePreKeys: [Data]
        /// The client lost the private halves of what it published before (a reinstall):
        /// the relay drops every one-time prekey it holds for the user before storing these.
        public var replaceOneTimePreKeys: Bool

        public init(signedPreKeyId: UInt32? = nil, signedPreKey: Data? = nil, signedPreKeySignature: Data? = nil,
                    oneTimePreKeyIds: [UInt32] = [], oneTimePreKeys: [Data] = [], replaceOneTimePreKeys: Bool = false) {
            self.replaceOneTimePreKeys = replaceOneTimePreKeys
            self.signedPreKeyId = signedPreKeyId
            self.signedPreKey = signedPreKey
            self.signedPreKeySignature = signedPreKeySignature
            self.oneTimePreKeyIds = oneTimePreKeyIds
            self.oneTimePreKeys = oneTimePreKeys
        }
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
        case .putPrekeys: "putPrekeys"
        case .groupCreate: "groupCreate"
        case .groupUpdate: "groupUpdate"
        case .groupInfo: "groupInfo"
        case .groupSend: "groupSend"
        case .blobOpen: "blobOpen"
        case .blobPut: "blobPut"
        case .blobGet: "blobGet"
        case .blobDone: "blobDone"
        }
    }

    /// Parses one text frame. Unknown fields are ignored; anything else wrong is a `FrameError`.
    public static func decode(_ text: some StringProtocol) throws(FrameError) -> ClientFrame {
        if let hot = HotFrameDecoder.decode(String(text)) { return hot }
        return try decodedByDecoder(text)
    }

    /// What `decode` gives without its fast path, for the test that compares them.
    public static func decodedByDecoder(_ text: some StringProtocol) throws(FrameError) -> ClientFrame {
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
            self = .getKeys(GetKeys(name: try c.string(.name), bundle: try c.optionalBool(.bundle) ?? false))
        case "putPrekeys":
            let ids = try c.int64s(.oneTimePreKeyIds)
            guard ids.allSatisfy({ (0...Int64(UInt32.max)).contains($0) }) else {
                throw FrameError(.badFrame, "field 'oneTimePreKeyIds' must hold integers in 0...\(UInt32.max)")
            }
            self = .putPrekeys(PutPrekeys(
                signedPreKeyId: try c.optionalInt64(.signedPreKeyId, in: 0...Int64(UInt32.max)).map { UInt32($0) },
                signedPreKey: try c.optionalBytes(.signedPreKey), signedPreKeySignature: try c.optionalBytes(.signedPreKeySignature),
                oneTimePreKeyIds: ids.map { UInt32($0) }, oneTimePreKeys: try c.bytesArray(.oneTimePreKeys),
                replaceOneTimePreKeys: try c.optionalBool(.replaceOneTimePreKeys) ?? false))
        case "groupCreate", "groupUpdate", "groupSend":
            let id = try c.string(.id)
            do {
                switch type {
                case "groupCreate":
                    self = .groupCreate(GroupCreate(id: id, group: try c.string(.group), title: try c.string(.title), members: try c.strings(.members),
                                                    change: try c.groupChange(.change)))
                case "groupUpdate":
                    self = .groupUpdate(GroupUpdate(id: id, group: try c.string(.group), action: try c.groupAction(.action),
                                                    members: try c.optionalStrings(.members), title: try c.optionalString(.title),
                                                    change: try c.groupChange(.change)))
                default:
                    self = .groupSend(GroupSend(id: id, group: try c.string(.group), copies: try c.copies(.copies)))
                }
            } catch var error as FrameError {
                error.ref = id
                throw error
            }
        case "groupInfo":
            self = .groupInfo(group: try c.string(.group))
        case "blobOpen", "blobPut", "blobGet", "blobDone":
            let blob = try c.string(.blob)
            do {
                switch type {
                case "blobOpen":
                    self = .blobOpen(BlobOpen(blob: blob, size: try c.int(.size), chunks: try c.int(.chunks), recipients: try c.strings(.recipients)))
                case "blobPut": self = .blobPut(BlobPut(blob: blob, index: try c.int(.index), data: try c.bytes(.data)))
                case "blobGet": self = .blobGet(BlobGet(blob: blob, index: try c.int(.index), count: try c.int(.count)))
                default: self = .blobDone(blob: blob)
                }
            } catch var error as FrameError {
                error.ref = String(blob.prefix(64))
                throw error
            }
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
            if f.bundle { try c.encode(true, forKey: .bundle) }
        case .putPrekeys(let f):
            try c.encodeIfPresent(f.signedPreKeyId, forKey: .signedPreKeyId)
            try c.encodeBytesIfPresent(f.signedPreKey, forKey: .signedPreKey)
            try c.encodeBytesIfPresent(f.signedPreKeySignature, forKey: .signedPreKeySignature)
            if f.replaceOneTimePreKeys { try c.encode(true, forKey: .replaceOneTimePreKeys) }
            if !f.oneTimePreKeys.isEmpty || !f.oneTimePreKeyIds.isEmpty {
                try c.encode(f.oneTimePreKeyIds, forKey: .oneTimePreKeyIds)
                try c.encode(f.oneTimePreKeys.map { $0.base64EncodedString() }, forKey: .oneTimePreKeys)
            }
        case .groupCreate(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.group, forKey: .group)
            try c.encode(f.title, forKey: .title)
            try c.encode(f.members, forKey: .members)
            try c.encodeIfPresent(f.change, forKey: .change)
        case .groupUpdate(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.group, forKey: .group)
            try c.encode(f.action.rawValue, forKey: .action)
            if !f.members.isEmpty { try c.encode(f.members, forKey: .members) }
            try c.encodeIfPresent(f.title, forKey: .title)
            try c.encodeIfPresent(f.change, forKey: .change)
        case .groupInfo(let group):
            try c.encode(group, forKey: .group)
        case .groupSend(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.group, forKey: .group)
            try c.encode(f.copies, forKey: .copies)
        case .blobOpen(let f):
            try c.encode(f.blob, forKey: .blob)
            try c.encode(f.size, forKey: .size)
            try c.encode(f.chunks, forKey: .chunks)
            try c.encode(f.recipients, forKey: .recipients)
        case .blobPut(let f):
            try c.encode(f.blob, forKey: .blob)
            try c.encode(f.index, forKey: .index)
            try c.encodeBytes(f.data, forKey: .data)
        case .blobGet(let f):
            try c.encode(f.blob, forKey: .blob)
            try c.encode(f.index, forKey: .index)
            try c.encode(f.count, forKey: .count)
        case .blobDone(let blob):
            try c.encode(blob, forKey: .blob)
        }
    }
}
