import Foundation

/// Everything the relay sends to a client (see docs/PROTOCOL.md).
public enum RelayFrame: Sendable, Equatable {
    case challenge(Challenge)
    case welcome(Welcome)
    case error(FrameError)
    case ack(id: String)
    /// An `ack` (wire type "ack", with `delivered`) for a message its recipient had already
    /// confirmed when it was acknowledged (live delivery): it was delivered at `at`, and no
    /// `delivered` receipt follows — one frame instead of two, and nothing for the sender to confirm.
    case ackDelivered(id: String, at: Int64)
    case message(Message)
    case receipt(Receipt)
    case queueEmpty
    case keys(Keys)
    case typing(from: String)
    case presence(Presence)
    case prekeys(Prekeys)
    case groupInfo(GroupInfo)
    case groupEvent(GroupEvent)
    case blobStatus(BlobStatus)
    case blobChunk(BlobChunk)

    public struct Challenge: Sendable, Equatable {
        public var version: Int
        /// The relay's stable identity; signatures are bound to it so they cannot be used elsewhere.
        public var relay: String
        public var nonce: Data
        /// Relay clock, milliseconds since the Unix epoch, so clients can spot a skewed clock.
        public var time: Int64
        /// The relay's Ed25519 public key (pinned by clients at `init`) and its signature over
        /// relay, nonce and time. Absent only from relays older than the key.
        public var key: Data?
        public var signature: Data?

        public init(version: Int = ProtocolVersion.current, relay: String, nonce: Data, time: Int64, key: Data? = nil, signature: Data? = nil) {
            self.version = version
            self.relay = relay
            self.nonce = nonce
            self.time = time
            self.key = key
            self.signature = signature
        }
    }

    public struct Welcome: Sendable, Equatable {
        public var name: String
        public var time: Int64
        /// The relay key's signature over the challenge's nonce, the name and the client's
        /// signed timestamp, proving this login was answered by the pinned relay just now.
        public var signature: Data?
        public init(name: String, time: Int64, signature: Data? = nil) {
            self.name = name
            self.time = time
            self.signature = signature
        }
    }

    public struct Message: Sendable, Equatable {
        public var id: String
        public var from: String
        public var body: Data
        /// When the relay accepted it, milliseconds since the Unix epoch.
        public var sentAt: Int64
        /// The group this copy was sent to, if any.
        public var group: String?

        public init(id: String, from: String, body: Data, sentAt: Int64, group: String? = nil) {
            self.id = id
            self.from = from
            self.body = body
            self.sentAt = sentAt
            self.group = group
        }
    }

    public enum ReceiptKind: String, Sendable, Equatable, Codable {
        case delivered, read, expired
    }

    public struct Receipt: Sendable, Equatable {
        /// Relay-assigned id, confirmed like a message id.
        public var id: String
        public var kind: ReceiptKind
        /// The user the receipt is about: who received or read the messages, or who they expired for.
        public var from: String
        public var messageIds: [String]
        public var at: Int64

        public init(id: String, kind: ReceiptKind, from: String, messageIds: [String], at: Int64) {
            self.id = id
            self.kind = kind
            self.from = from
            self.messageIds = messageIds
            self.at = at
        }
    }

    public struct Keys: Sendable, Equatable {
        public var name: String
        public var signingKey: Data
        public var agreementKey: Data
        /// Present when a bundle was asked for and the user has published prekeys.
        public var signedPreKeyId: UInt32?
        public var signedPreKey: Data?
        public var signedPreKeySignature: Data?
        /// Handed out once; absent when the user has none left.
        public var oneTimePreKeyId: UInt32?
        public var oneTimePreKey: Data?

        public init(name: String, signingKey: Data, agreementKey: Data, signedPreKeyId: UInt32? = nil, signedPreKey: Data? = nil,
                    signedPreKeySignature: Data? = nil, oneTimePreKeyId: UInt32? = nil, oneTimePreKey: Data? = nil) {
            self.name = name
            self.signingKey = signingKey
            self.agreementKey = agreementKey
            self.signedPreKeyId = signedPreKeyId
            self.signedPreKey = signedPreKey
            self.signedPreKeySignature = signedPreKeySignature
            self.oneTimePreKeyId = oneTimePreKeyId
            self.oneTimePreKey = oneTimePreKey
        }
    }

    /// The answer to `putPrekeys`: what the relay now holds for this user.
    public struct Prekeys: Sendable, Equatable {
        public var oneTimePreKeysLeft: Int
        public var signedPreKeyId: UInt32?
        public init(oneTimePreKeysLeft: Int, signedPreKeyId: UInt32?) {
            self.oneTimePreKeysLeft = oneTimePreKeysLeft
            self.signedPreKeyId = signedPreKeyId
        }
    }

    public struct Presence: Sendable, Equatable {
        public var user: String
        public var online: Bool
        /// Last time the user was connected, milliseconds since the Unix epoch; absent while online or never seen.
        public var lastSeen: Int64?
        public init(user: String, online: Bool, lastSeen: Int64?) {
            self.user = user
            self.online = online
            self.lastSeen = lastSeen
        }
    }

    public var type: String {
        switch self {
        case .challenge: "challenge"
        case .welcome: "welcome"
        case .error: "error"
        case .ack, .ackDelivered: "ack"
        case .message: "message"
        case .receipt: "receipt"
        case .queueEmpty: "queueEmpty"
        case .keys: "keys"
        case .typing: "typing"
        case .presence: "presence"
        case .prekeys: "prekeys"
        case .groupInfo: "groupInfo"
        case .groupEvent: "groupEvent"
        case .blobStatus: "blobStatus"
        case .blobChunk: "blobChunk"
        }
    }

    public static func decode(_ text: some StringProtocol) throws(FrameError) -> RelayFrame {
        if let frame = HotFrameDecoder.decodeRelayFrame(text) { return frame }
        return try decodedByDecoder(text)
    }

    /// What `decode` gives without its fast path, for the test that compares them.
    public static func decodedByDecoder(_ text: some StringProtocol) throws(FrameError) -> RelayFrame {
        try decodeFrame(RelayFrame.self, from: Data(text.utf8))
    }

    /// The frame as JSON text (keys sorted). The frames sent for every message (and every confirmation) are written
    /// directly (byte for byte what the encoder would produce; a test checks), since a
    /// `JSONEncoder` per frame was a visible share of the relay's CPU.
    public func encoded() -> String {
        switch self {
        case .ack(let id) where Self.isPlain(id):
            return FrameTextWriter.text(capacity: 24 + id.utf8.count) { text in
                text.append(#"{"id":""#)
                text.append(id)
                text.append(#"","type":"ack"}"#)
            }
        case .ackDelivered(let id, let at) where Self.isPlain(id):
            return FrameTextWriter.text(capacity: 40 + id.utf8.count + FrameTextWriter.decimalCapacity) { text in
                text.append(#"{"delivered":"#)
                text.append(decimal: at)
                text.append(#","id":""#)
                text.append(id)
                text.append(#"","type":"ack"}"#)
            }
        case .message(let f) where f.group == nil && Self.isPlain(f.id) && Self.isPlain(f.from):
            let capacity = 64 + FrameTextWriter.base64Count(f.body.count) + f.from.utf8.count + f.id.utf8.count + FrameTextWriter.decimalCapacity
            return FrameTextWriter.text(capacity: capacity) { text in
                text.append(#"{"body":""#)
                text.append(base64: f.body)
                text.append(#"","from":""#)
                text.append(f.from)
                text.append(#"","id":""#)
                text.append(f.id)
                text.append(#"","sentAt":"#)
                text.append(decimal: f.sentAt)
                text.append(#","type":"message"}"#)
            }
        case .receipt(let r) where Self.isPlain(r.id) && Self.isPlain(r.from) && r.messageIds.allSatisfy(Self.isPlain):
            // One per confirmation batch, listing up to 256 ids: written in place like `message`.
            let idBytes = r.messageIds.reduce(0) { $0 + $1.utf8.count + 3 }
            let capacity = 80 + r.from.utf8.count + r.id.utf8.count + r.kind.rawValue.utf8.count + idBytes + FrameTextWriter.decimalCapacity
            return FrameTextWriter.text(capacity: capacity) { text in
                text.append(#"{"at":"#)
                text.append(decimal: r.at)
                text.append(#","from":""#)
                text.append(r.from)
                text.append(#"","id":""#)
                text.append(r.id)
                text.append(#"","kind":""#)
                text.append(r.kind.rawValue)
                text.append(#"","messageIds":["#)
                for (index, messageID) in r.messageIds.enumerated() {
                    if index > 0 { text.append(#","#) }
                    text.append(#"""#)
                    text.append(messageID)
                    text.append(#"""#)
                }
                text.append(#"],"type":"receipt"}"#)
            }
        default:
            return encodeFrame(self)
        }
    }

    /// The id an `ack` acknowledges, with or without `delivered`.
    public var acknowledgedID: String? {
        switch self {
        case .ack(let id), .ackDelivered(let id, _): id
        default: nil
        }
    }

    /// Needs no JSON escaping (ids and names are validated to such characters anyway).
    static func isPlain(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// What `encoded()` gives without its fast paths, for the test that compares them.
    public func encodedByEncoder() -> String { encodeFrame(self) }
}

extension RelayFrame: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FieldKey.self)
        let type = try c.string(.type)
        switch type {
        case "challenge":
            self = .challenge(Challenge(version: try c.int(.version), relay: try c.string(.relay), nonce: try c.bytes(.nonce), time: try c.int64(.time),
                                        key: try c.optionalBytes(.key), signature: try c.optionalBytes(.signature)))
        case "welcome":
            self = .welcome(Welcome(name: try c.string(.name), time: try c.int64(.time), signature: try c.optionalBytes(.signature)))
        case "error":
            let raw = try c.string(.code)
            self = .error(FrameError(ErrorCode(rawValue: raw) ?? .internalError, try c.string(.message), ref: try c.optionalString(.ref)))
        case "ack":
            if let at = try c.optionalInt64(.delivered) {
                self = .ackDelivered(id: try c.string(.id), at: at)
            } else {
                self = .ack(id: try c.string(.id))
            }
        case "message":
            self = .message(Message(id: try c.string(.id), from: try c.string(.from), body: try c.bytes(.body), sentAt: try c.int64(.sentAt),
                                    group: try c.optionalString(.group)))
        case "receipt":
            guard let kind = ReceiptKind(rawValue: try c.string(.kind)) else {
                throw FrameError(.badFrame, "unknown receipt kind")
            }
            self = .receipt(Receipt(id: try c.string(.id), kind: kind, from: try c.string(.from), messageIds: try c.strings(.messageIds), at: try c.int64(.at)))
        case "queueEmpty":
            self = .queueEmpty
        case "keys":
            let uint32 = Int64(0)...Int64(UInt32.max)
            self = .keys(Keys(name: try c.string(.name), signingKey: try c.bytes(.signingKey), agreementKey: try c.bytes(.agreementKey),
                              signedPreKeyId: try c.optionalInt64(.signedPreKeyId, in: uint32).map { UInt32($0) },
                              signedPreKey: try c.optionalBytes(.signedPreKey), signedPreKeySignature: try c.optionalBytes(.signedPreKeySignature),
                              oneTimePreKeyId: try c.optionalInt64(.oneTimePreKeyId, in: uint32).map { UInt32($0) },
                              oneTimePreKey: try c.optionalBytes(.oneTimePreKey)))
        case "blobStatus":
            self = .blobStatus(BlobStatus(blob: try c.string(.blob), have: try c.int(.have), chunks: try c.int(.chunks)))
        case "blobChunk":
            self = .blobChunk(BlobChunk(blob: try c.string(.blob), index: try c.int(.index), chunks: try c.int(.chunks), data: try c.bytes(.data)))
        case "groupInfo":
            self = .groupInfo(GroupInfo(group: try c.string(.group), title: try c.string(.title), members: try c.strings(.members), admins: try c.strings(.admins),
                                        version: try c.optionalInt64(.version, in: 0...Int64(Int32.max)).map { Int($0) } ?? 0, change: try c.groupChange(.change)))
        case "groupEvent":
            self = .groupEvent(GroupEvent(id: try c.string(.id), group: try c.string(.group), action: try c.groupAction(.action), actor: try c.string(.actor),
                                          subjects: try c.optionalStrings(.subjects), members: try c.strings(.members), admins: try c.strings(.admins),
                                          title: try c.string(.title), at: try c.int64(.at), change: try c.groupChange(.change)))
        case "prekeys":
            self = .prekeys(Prekeys(oneTimePreKeysLeft: try c.int(.oneTimePreKeysLeft),
                                    signedPreKeyId: try c.optionalInt64(.signedPreKeyId, in: 0...Int64(UInt32.max)).map { UInt32($0) }))
        case "typing":
            self = .typing(from: try c.string(.from))
        case "presence":
            self = .presence(Presence(user: try c.string(.user), online: try c.bool(.online), lastSeen: try c.optionalInt64(.lastSeen)))
        default:
            throw FrameError(.unknownType, "unknown frame type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FieldKey.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .challenge(let f):
            try c.encode(f.version, forKey: .version)
            try c.encode(f.relay, forKey: .relay)
            try c.encodeBytes(f.nonce, forKey: .nonce)
            try c.encode(f.time, forKey: .time)
            try c.encodeBytesIfPresent(f.key, forKey: .key)
            try c.encodeBytesIfPresent(f.signature, forKey: .signature)
        case .welcome(let f):
            try c.encode(f.name, forKey: .name)
            try c.encode(f.time, forKey: .time)
            try c.encodeBytesIfPresent(f.signature, forKey: .signature)
        case .error(let f):
            try c.encode(f.code.rawValue, forKey: .code)
            try c.encode(f.message, forKey: .message)
            try c.encodeIfPresent(f.ref, forKey: .ref)
        case .ack(let id):
            try c.encode(id, forKey: .id)
        case .ackDelivered(let id, let at):
            try c.encode(id, forKey: .id)
            try c.encode(at, forKey: .delivered)
        case .message(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.from, forKey: .from)
            try c.encodeBytes(f.body, forKey: .body)
            try c.encode(f.sentAt, forKey: .sentAt)
            try c.encodeIfPresent(f.group, forKey: .group)
        case .receipt(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.kind.rawValue, forKey: .kind)
            try c.encode(f.from, forKey: .from)
            try c.encode(f.messageIds, forKey: .messageIds)
            try c.encode(f.at, forKey: .at)
        case .queueEmpty:
            break
        case .keys(let f):
            try c.encode(f.name, forKey: .name)
            try c.encodeBytes(f.signingKey, forKey: .signingKey)
            try c.encodeBytes(f.agreementKey, forKey: .agreementKey)
            try c.encodeIfPresent(f.signedPreKeyId, forKey: .signedPreKeyId)
            try c.encodeBytesIfPresent(f.signedPreKey, forKey: .signedPreKey)
            try c.encodeBytesIfPresent(f.signedPreKeySignature, forKey: .signedPreKeySignature)
            try c.encodeIfPresent(f.oneTimePreKeyId, forKey: .oneTimePreKeyId)
            try c.encodeBytesIfPresent(f.oneTimePreKey, forKey: .oneTimePreKey)
        case .typing(let from):
            try c.encode(from, forKey: .from)
        case .presence(let f):
            try c.encode(f.user, forKey: .user)
            try c.encode(f.online, forKey: .online)
            try c.encodeIfPresent(f.lastSeen, forKey: .lastSeen)
        case .groupInfo(let f):
            try c.encode(f.group, forKey: .group)
            try c.encode(f.title, forKey: .title)
            try c.encode(f.members, forKey: .members)
            try c.encode(f.admins, forKey: .admins)
            try c.encode(f.version, forKey: .version)
            try c.encodeIfPresent(f.change, forKey: .change)
        case .groupEvent(let f):
            try c.encode(f.id, forKey: .id)
            try c.encode(f.group, forKey: .group)
            try c.encode(f.action.rawValue, forKey: .action)
            try c.encode(f.actor, forKey: .actor)
            if !f.subjects.isEmpty { try c.encode(f.subjects, forKey: .subjects) }
            try c.encode(f.members, forKey: .members)
            try c.encode(f.admins, forKey: .admins)
            try c.encode(f.title, forKey: .title)
            try c.encode(f.at, forKey: .at)
            try c.encodeIfPresent(f.change, forKey: .change)
        case .prekeys(let f):
            try c.encode(f.oneTimePreKeysLeft, forKey: .oneTimePreKeysLeft)
            try c.encodeIfPresent(f.signedPreKeyId, forKey: .signedPreKeyId)
        case .blobStatus(let f):
            try c.encode(f.blob, forKey: .blob)
            try c.encode(f.have, forKey: .have)
            try c.encode(f.chunks, forKey: .chunks)
        case .blobChunk(let f):
            try c.encode(f.blob, forKey: .blob)
            try c.encode(f.index, forKey: .index)
            try c.encode(f.chunks, forKey: .chunks)
            try c.encodeBytes(f.data, forKey: .data)
        }
    }
}
