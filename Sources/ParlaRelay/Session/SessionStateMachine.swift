import Foundation
import ParlaCrypto
import ParlaProtocol

/// The protocol logic of one connection, with no I/O: it takes what arrived and says
/// what to do. The `Session` performs the actions and reports results back.
struct SessionStateMachine: Sendable {
    struct Configuration: Sendable {
        var relayIdentity: String
        /// Signs each challenge and welcome so clients can tell this relay from one that copies its identity.
        var relayKey: RelayIdentityKey
        var maxFrameBytes: Int = ProtocolLimits.defaultMaxFrameBytes
        var rateLimitPerSecond: Double = 1000
        var rateLimitBurst: Double = 2000
        var maxAuthAttempts = 3
        /// How far a signed timestamp may be from the relay clock, in milliseconds.
        var allowedClockSkew: Int64 = 5 * 60 * 1000
    }

    enum State: Sendable, Equatable {
        case idle
        case awaitingAuth(nonce: Data, failedAttempts: Int)
        case authenticating(nonce: Data, failedAttempts: Int, clientTime: Int64)
        case online(user: String)
        case closed
    }

    enum AuthRequest: Sendable, Equatable {
        case login(ClientFrame.Login, statement: AuthStatementInput)
        case register(ClientFrame.Register, statement: AuthStatementInput)
    }

    /// What the signature must cover, fixed by this connection's challenge.
    struct AuthStatementInput: Sendable, Equatable {
        var relay: String
        var nonce: Data
    }

    enum Action: Sendable, Equatable {
        case send(RelayFrame)
        case close(code: UInt16, reason: String)
        case authenticate(AuthRequest)
        case accept(ClientFrame.Send)
        case confirm([String])
        case read(ClientFrame.Read)
        case typing(to: String)
        case lookupKeys(String, bundle: Bool)
        case storePrekeys(ClientFrame.PutPrekeys)
        case groupChange(GroupChange)
        case groupInfo(String)
        case groupSend(ClientFrame.GroupSend)
        case blobOpen(ClientFrame.BlobOpen)
        case blobPut(ClientFrame.BlobPut)
        case blobGet(ClientFrame.BlobGet)
        case blobDone(String)
    }

    let configuration: Configuration
    private(set) var state: State = .idle
    private var bucket: TokenBucket

    init(configuration: Configuration, now: Int64) {
        self.configuration = configuration
        self.bucket = TokenBucket(ratePerSecond: configuration.rateLimitPerSecond, capacity: configuration.rateLimitBurst, now: now)
    }

    var user: String? {
        if case .online(let user) = state { return user }
        return nil
    }

    mutating func start(nonce: Data, now: Int64) -> [Action] {
        state = .awaitingAuth(nonce: nonce, failedAttempts: 0)
        return [.send(challenge(nonce: nonce, now: now))]
    }

    mutating func receiveBinary(now: Int64) -> [Action] {
        guard state != .closed else { return [] }
        guard bucket.take(now: now) else { return [.send(.error(FrameError(.rateLimited, "too many frames; slow down")))] }
        return [.send(.error(FrameError(.binaryNotSupported, "binary frames are not supported; send JSON text frames")))]
    }

    mutating func receive(text: String, byteCount: Int, now: Int64) -> [Action] {
        if case .closed = state { return [] }
        guard byteCount <= configuration.maxFrameBytes else {
            return [.send(.error(FrameError(.frameTooLarge, "frame of \(byteCount) bytes exceeds the limit of \(configuration.maxFrameBytes) bytes")))]
        }
        let frame: ClientFrame
        do {
            frame = try ClientFrame.decode(text)
        } catch {
            _ = bucket.take(now: now)
            // Before login nobody learns which frame types this relay knows.
            if error.code == .unknownType, !isOnline {
                return [.send(.error(FrameError(.notAuthenticated, "log in or register first")))]
            }
            return [.send(.error(error))]
        }
        guard bucket.take(now: now) else {
            return [.send(.error(FrameError(.rateLimited, "too many frames; slow down", ref: Self.reference(of: frame))))]
        }
        switch (state, frame) {
        case (.awaitingAuth(let nonce, let failed), .login(let login)):
            guard login.version == ProtocolVersion.current else { return unsupportedVersion(login.version) }
            state = .authenticating(nonce: nonce, failedAttempts: failed, clientTime: login.timestamp)
            return [.authenticate(.login(login, statement: AuthStatementInput(relay: configuration.relayIdentity, nonce: nonce)))]
        case (.awaitingAuth(let nonce, let failed), .register(let register)):
            guard register.version == ProtocolVersion.current else { return unsupportedVersion(register.version) }
            state = .authenticating(nonce: nonce, failedAttempts: failed, clientTime: register.timestamp)
            return [.authenticate(.register(register, statement: AuthStatementInput(relay: configuration.relayIdentity, nonce: nonce)))]
        case (.authenticating, .login), (.authenticating, .register):
            return [.send(.error(FrameError(.badFrame, "an authentication attempt is already in progress")))]
        case (.online, .login), (.online, .register):
            return [.send(.error(FrameError(.alreadyAuthenticated, "this connection is already logged in")))]
        case (.awaitingAuth, _), (.authenticating, _), (.idle, _):
            return [.send(.error(FrameError(.notAuthenticated, "log in or register before sending '\(frame.type)'", ref: Self.reference(of: frame))))]
        case (.online(let user), _):
            return onlineFrame(frame, user: user)
        case (.closed, _):
            return []
        }
    }

    var isOnline: Bool {
        if case .online = state { return true }
        return false
    }

    /// The session reports how authentication went; `nextNonce` is used if another try is allowed.
    /// `nextNonce` is only made for a failed attempt (the retry's challenge).
    mutating func authenticationFinished(_ result: Result<String, FrameError>, nextNonce: @autoclosure () -> Data, now: Int64) -> [Action] {
        guard case .authenticating(let nonce, let failed, let clientTime) = state else { return [] }
        switch result {
        case .success(let user):
            state = .online(user: user)
            let proof = RelayProof.welcome(relay: configuration.relayIdentity, nonce: nonce, name: user, clientTime: clientTime)
            return [.send(.welcome(RelayFrame.Welcome(name: user, time: now, signature: configuration.relayKey.sign(proof))))]
        case .failure(let error):
            let attempts = failed + 1
            if attempts >= configuration.maxAuthAttempts {
                state = .closed
                return [
                    .send(.error(error)),
                    .send(.error(FrameError(.tooManyAttempts, "too many failed attempts on one connection"))),
                    .close(code: CloseCode.authFailed, reason: "authentication failed"),
                ]
            }
            let nonce = nextNonce()
            state = .awaitingAuth(nonce: nonce, failedAttempts: attempts)
            return [.send(.error(error)), .send(challenge(nonce: nonce, now: now))]
        }
    }

    mutating func authDeadlinePassed() -> [Action] {
        switch state {
        case .online, .closed:
            return []
        default:
            state = .closed
            return [
                .send(.error(FrameError(.authTimeout, "authentication did not complete within the time allowed"))),
                .close(code: CloseCode.authTimeout, reason: "authentication timeout"),
            ]
        }
    }

    mutating func closed() {
        state = .closed
    }

    private func onlineFrame(_ frame: ClientFrame, user: String) -> [Action] {
        switch frame {
        case .send(let send):
            guard Validation.isValidID(send.id) else {
                return [.send(.error(FrameError(.invalidID, "message id must be 1-64 characters of A-Z a-z 0-9 _ . - :", ref: String(send.id.prefix(64)))))]
            }
            guard Validation.isValidName(send.to) else {
                return [.send(.error(FrameError(.unknownRecipient, "'\(send.to.prefix(40))' is not a valid user name", ref: send.id)))]
            }
            guard send.body.count <= ProtocolLimits.maxBodyBytes else {
                return [.send(.error(FrameError(.messageTooLarge, "message body is \(send.body.count) bytes; the limit is \(ProtocolLimits.maxBodyBytes)", ref: send.id)))]
            }
            return [.accept(send)]
        case .confirm(let confirm):
            if let error = Self.checkIDs(confirm.ids, ref: nil) { return [.send(.error(error))] }
            return confirm.ids.isEmpty ? [] : [.confirm(confirm.ids)]
        case .read(let read):
            guard Validation.isValidID(read.id) else {
                return [.send(.error(FrameError(.invalidID, "receipt id must be 1-64 characters of A-Z a-z 0-9 _ . - :", ref: String(read.id.prefix(64)))))]
            }
            guard Validation.isValidName(read.to) else {
                return [.send(.error(FrameError(.unknownRecipient, "'\(read.to.prefix(40))' is not a valid user name", ref: read.id)))]
            }
            if let error = Self.checkIDs(read.messageIds, ref: read.id) { return [.send(.error(error))] }
            if read.messageIds.isEmpty { return [.send(.ack(id: read.id))] }
            return [.read(read)]
        case .typing(let typing):
            guard Validation.isValidName(typing.to), typing.to != user else { return [] }
            return [.typing(to: typing.to)]
        case .getKeys(let request):
            guard Validation.isValidName(request.name) else {
                return [.send(.error(FrameError(.unknownUser, "'\(request.name.prefix(40))' is not a valid user name", ref: request.name.prefix(40).description)))]
            }
            return [.lookupKeys(request.name, bundle: request.bundle)]
        case .putPrekeys(let prekeys):
            if let problem = Self.checkPrekeys(prekeys) { return [.send(.error(problem))] }
            return [.storePrekeys(prekeys)]
        case .groupCreate(let create):
            if let error = Self.checkGroupRequest(id: create.id, group: create.group, members: create.members, title: create.title) { return [.send(.error(error))] }
            return [.groupChange(GroupChange(id: create.id, actor: user, group: create.group, action: .create, subjects: create.members, title: create.title,
                                             signed: create.change))]
        case .groupUpdate(let update):
            if let error = Self.checkGroupRequest(id: update.id, group: update.group, members: update.members, title: update.title) { return [.send(.error(error))] }
            if update.action == .create {
                return [.send(.error(FrameError(.badFrame, "create a group with 'groupCreate'", ref: update.id)))]
            }
            return [.groupChange(GroupChange(id: update.id, actor: user, group: update.group, action: update.action, subjects: update.members,
                                             title: update.title, signed: update.change))]
        case .groupInfo(let group):
            guard Validation.isValidName(group) else { return [.send(.error(FrameError(.unknownGroup, "'\(group.prefix(40))' is not a valid group name")))] }
            return [.groupInfo(group)]
        case .groupSend(let send):
            if let error = Self.checkGroupRequest(id: send.id, group: send.group, members: send.copies.map(\.to), title: nil) { return [.send(.error(error))] }
            if let large = send.copies.first(where: { $0.body.count > ProtocolLimits.maxBodyBytes }) {
                return [.send(.error(FrameError(.messageTooLarge, "the copy for \(large.to) is \(large.body.count) bytes; the limit is \(ProtocolLimits.maxBodyBytes)", ref: send.id)))]
            }
            return [.groupSend(send)]
        case .blobOpen, .blobPut, .blobGet, .blobDone:
            return Self.blobFrame(frame)
        case .login, .register:
            return [.send(.error(FrameError(.alreadyAuthenticated, "this connection is already logged in")))]
        }
    }

    /// Attachments: the shape of each request is checked here; the store checks the rest.
    private static func blobFrame(_ frame: ClientFrame) -> [Action] {
        let blob: String
        switch frame {
        case .blobOpen(let f): blob = f.blob
        case .blobPut(let f): blob = f.blob
        case .blobGet(let f): blob = f.blob
        case .blobDone(let id): blob = id
        default: return []
        }
        func refuse(_ message: String, code: ErrorCode = .badFrame) -> [Action] {
            [.send(.error(FrameError(code, message, ref: String(blob.prefix(64)))))]
        }
        guard BlobLimits.isValidBlobID(blob) else { return refuse("a blob id is 32 lowercase hexadecimal digits") }
        switch frame {
        case .blobOpen(let open):
            let largest = BlobLimits.sealedLayout(plaintextBytes: BlobLimits.maxFileBytes)
            guard open.size <= largest.bytes, open.chunks <= largest.chunks else {
                return refuse("files are limited to \(BlobLimits.maxFileBytes >> 20) MiB", code: .messageTooLarge)
            }
            guard open.chunks >= 1, open.size >= (open.chunks - 1) * BlobLimits.chunkBytes + BlobLimits.chunkOverheadBytes,
                  open.size <= open.chunks * BlobLimits.chunkBytes
            else { return refuse("\(open.size) bytes cannot be \(open.chunks) chunks of \(BlobLimits.chunkBytes)") }
            guard (1...BlobLimits.maxRecipients).contains(open.recipients.count), open.recipients.allSatisfy(Validation.isValidName) else {
                return refuse("a file needs 1-\(BlobLimits.maxRecipients) recipients, each a valid user name")
            }
            return [.blobOpen(open)]
        case .blobPut(let put):
            guard put.index >= 0, put.data.count <= BlobLimits.chunkBytes else { return refuse("a chunk is at most \(BlobLimits.chunkBytes) bytes, at an index from 0") }
            return [.blobPut(put)]
        case .blobGet(let get):
            guard get.index >= 0, (1...BlobLimits.maxChunksPerGet).contains(get.count) else {
                return refuse("ask for 1-\(BlobLimits.maxChunksPerGet) chunks from an index from 0")
            }
            return [.blobGet(get)]
        default:
            return [.blobDone(blob)]
        }
    }

    /// Most members named in one group frame (the relay's group size limit may be lower).
    static let maxGroupFrameMembers = 1024

    private static func checkGroupRequest(id: String, group: String, members: [String], title: String?) -> FrameError? {
        guard Validation.isValidID(id) else {
            return FrameError(.invalidID, "request id must be 1-64 characters of A-Z a-z 0-9 _ . - :", ref: String(id.prefix(64)))
        }
        guard Validation.isValidName(group) else {
            return FrameError(.badFrame, "'\(group.prefix(40))' is not a valid group name (3-32 of a-z 0-9 _ . -)", ref: id)
        }
        guard members.count <= maxGroupFrameMembers else { return FrameError(.tooManyIDs, "at most \(maxGroupFrameMembers) members per frame", ref: id) }
        if let bad = members.first(where: { !Validation.isValidName($0) }) {
            return FrameError(.unknownUser, "'\(bad.prefix(40))' is not a valid user name", ref: id)
        }
        if let title, !GroupLimits.isValidTitle(title) {
            return FrameError(.badFrame, "a group title is 1-\(GroupLimits.maxTitleBytes) bytes of text without control characters", ref: id)
        }
        return nil
    }

    private func challenge(nonce: Data, now: Int64) -> RelayFrame {
        let proof = RelayProof.challenge(relay: configuration.relayIdentity, nonce: nonce, time: now)
        return .challenge(RelayFrame.Challenge(relay: configuration.relayIdentity, nonce: nonce, time: now,
                                               key: configuration.relayKey.publicKey, signature: configuration.relayKey.sign(proof)))
    }

    private mutating func unsupportedVersion(_ version: Int) -> [Action] {
        state = .closed
        return [
            .send(.error(FrameError(.unsupportedVersion, "protocol version \(version) is not supported; this relay speaks version \(ProtocolVersion.current)"))),
            .close(code: CloseCode.unsupportedVersion, reason: "unsupported protocol version"),
        ]
    }

    /// Most one-time prekeys in one `putPrekeys` frame.
    static let maxPrekeysPerFrame = 200

    private static func checkPrekeys(_ frame: ClientFrame.PutPrekeys) -> FrameError? {
        let signedParts = [frame.signedPreKeyId != nil, frame.signedPreKey != nil, frame.signedPreKeySignature != nil]
        if signedParts.contains(true), signedParts.contains(false) {
            return FrameError(.badFrame, "signedPreKeyId, signedPreKey and signedPreKeySignature go together", ref: "signedPreKey")
        }
        if let key = frame.signedPreKey, key.count != 32 { return FrameError(.invalidKey, "signedPreKey must be 32 bytes", ref: "signedPreKey") }
        if let signature = frame.signedPreKeySignature, signature.count != 64 {
            return FrameError(.badSignature, "signedPreKeySignature must be 64 bytes", ref: "signedPreKey")
        }
        guard frame.oneTimePreKeyIds.count == frame.oneTimePreKeys.count else {
            return FrameError(.badFrame, "oneTimePreKeyIds and oneTimePreKeys must have the same length", ref: "oneTimePreKeys")
        }
        if frame.oneTimePreKeys.count > maxPrekeysPerFrame {
            return FrameError(.tooManyIDs, "at most \(maxPrekeysPerFrame) one-time prekeys per frame", ref: "oneTimePreKeys")
        }
        if frame.oneTimePreKeys.contains(where: { $0.count != 32 }) {
            return FrameError(.invalidKey, "one-time prekeys must be 32 bytes", ref: "oneTimePreKeys")
        }
        if Set(frame.oneTimePreKeyIds).count != frame.oneTimePreKeyIds.count {
            return FrameError(.badFrame, "oneTimePreKeyIds must be distinct", ref: "oneTimePreKeys")
        }
        return nil
    }

    private static func checkIDs(_ ids: [String], ref: String?) -> FrameError? {
        if ids.count > ProtocolLimits.maxIDsPerFrame {
            return FrameError(.tooManyIDs, "at most \(ProtocolLimits.maxIDsPerFrame) ids per frame", ref: ref)
        }
        if let bad = ids.first(where: { !Validation.isValidID($0) }) {
            return FrameError(.invalidID, "'\(bad.prefix(64))' is not a valid id", ref: ref)
        }
        return nil
    }

    private static func reference(of frame: ClientFrame) -> String? {
        switch frame {
        case .send(let send): send.id
        case .read(let read): read.id
        case .groupCreate(let create): create.id
        case .groupUpdate(let update): update.id
        case .groupSend(let send): send.id
        default: nil
        }
    }
}
