import Foundation
import Logging
import ParlaCrypto
import ParlaProtocol

/// What the connection's writer task should put on the socket.
enum Outgoing: Sendable {
    case text(String)
    case close(code: UInt16, reason: String)
}

/// One client connection: runs the state machine's actions against the store, the
/// registry and the socket, and keeps the delivery window full.
actor Session {
    struct Dependencies: Sendable {
        var store: any MailboxStore
        var registry: SessionRegistry
        var metrics: RelayMetrics
        var configuration: RelayConfiguration
        var logger: Logger
        var prekeyLimiter: PrekeyFetchLimiter
        var blobs: BlobStore
    }

    let deps: Dependencies
    private var machine: SessionStateMachine
    private let output: BatchQueue<Outgoing>
    private let acks: BatchQueue<PendingAck>
    private(set) var isClosed = false
    private var onAuthenticated: (@Sendable () -> Void)?

    // Delivery: items are sent in mailbox order, at most `deliveryWindow` unconfirmed.
    private var cursor: Int64 = 0
    /// Sent from the store (or stored after being sent live) and not yet confirmed, with each
    /// one's mailbox position (0 while a message stored after it was sent live has none known here).
    var inflight: [String: Int64] = [:]
    /// Confirmed by id alone (position unknown here) and not yet deleted: if the mailbox read
    /// meets one before its deletion commits, it must not be sent again.
    private var settling: Set<String> = []
    var pumping = false
    private var pumpAgain = false
    private var sentQueueEmpty = false
    /// Everything stored for this user so far has been sent: a live message cannot overtake a stored one.
    var backlogDrained = false

    // Live delivery, as the recipient (see `LiveMessage`).
    var live: [String: LiveMessage] = [:]
    var sweepScheduled = false
    var liveCount = 0
    /// Body bytes held in `live`, bounded by `liveBytesLimit`.
    var liveBytes = 0
    /// When a frame last came in on this connection: tells a busy recipient from a stuck or gone one.
    var lastHeardAt = ContinuousClock.now

    /// Live messages held but not sent yet (window full, or stored items go first), in order.
    var liveQueue: [String] = []
    /// Stores of late live items not committed yet: until they are, stored items may be missing from a read.
    var spillsPending = 0

    // As the sender: messages on the stored route per recipient whose recipient has not
    // been sent them yet; until then a live message to them would overtake.
    private var storedOutstanding: [String: Int] = [:]
    /// Users this one exchanges presence with: its mutual contacts at login, and those who
    /// became mutual since.
    private var presencePeers: Set<String> = []
    /// Users this one wrote to who have not written back (checked once each).
    private var notMutual: Set<String> = []

    struct PendingAck: Sendable {
        enum Route: Sendable { case stored, live }
        var id: String
        var recipient: String
        var outcome: PendingOutcome<AcceptOutcome>
        var route: Route
    }

    init(deps: Dependencies, relayIdentity: RelayIdentity, output: BatchQueue<Outgoing>, acks: BatchQueue<PendingAck>) {
        self.deps = deps
        var machineConfig = SessionStateMachine.Configuration(relayIdentity: relayIdentity.id, relayKey: relayIdentity.key)
        machineConfig.maxFrameBytes = deps.configuration.maxFrameBytes
        machineConfig.rateLimitPerSecond = deps.configuration.rateLimitPerSecond
        machineConfig.rateLimitBurst = deps.configuration.rateLimitBurst
        self.machine = SessionStateMachine(configuration: machineConfig, now: deps.configuration.now())
        self.output = output
        self.acks = acks
    }

    var now: Int64 { deps.configuration.now() }
    var user: String? { machine.user }

    /// `onAuthenticated` runs once, when the client has logged in or registered (it disarms the
    /// connection's authentication deadline).
    func start(onAuthenticated: @escaping @Sendable () -> Void = {}) async {
        self.onAuthenticated = onAuthenticated
        await perform(machine.start(nonce: Self.newNonce(), now: now))
    }

    func receive(text: String, byteCount: Int) async {
        lastHeardAt = .now
        await perform(machine.receive(text: text, byteCount: byteCount, now: now))
    }

    func receiveBinary() async {
        await perform(machine.receiveBinary(now: now))
    }

    func authDeadlinePassed() async {
        await perform(machine.authDeadlinePassed())
    }

    /// Another login for the same user took over.
    func replaced() {
        close(code: CloseCode.replaced, reason: "logged in from another client")
    }

    func shutDown() {
        close(code: 1001, reason: "relay is shutting down")
    }

    /// Called once the socket is gone.
    func disconnected() async {
        // Stored before this connection stops being findable, so a sender that finds it gone stores after them.
        spillAllLive()
        let user = machine.user
        machine.closed()
        isClosed = true
        output.finish()
        acks.finish()
        let wasLive = deps.registry.remove(self, user: user)
        guard let user else { return }
        if wasLive, let cluster = deps.registry.cluster { await cluster.setConnected(user, false) }
        let seen = now
        do {
            try await deps.store.setLastSeen(user, at: seen)
        } catch {
            deps.logger.warning("could not record last seen", metadata: ["user": "\(user)", "error": "\(error)"])
        }
        await announcePresence(of: user, online: false, lastSeen: seen)
    }

    /// New items are waiting in this user's mailbox.
    func mailboxChanged() async {
        backlogDrained = false
        await pump()
    }

    // MARK: - Actions

    /// Kept small on purpose: its async frame is allocated in the connection's task, and a
    /// task keeps the largest frames it ever had until the connection ends. Each kind of
    /// action is handled in a function of its own, so only the frame of the one running is live.
    private func perform(_ actions: [SessionStateMachine.Action]) async {
        for action in actions where !performAtOnce(action) {
            await performAsync(action)
        }
    }

    /// The actions that need no waiting; false for the others.
    @inline(never)
    private func performAtOnce(_ action: SessionStateMachine.Action) -> Bool {
        switch action {
        case .send(let frame):
            emit(frame)
        case .close(let code, let reason):
            close(code: code, reason: reason)
        default:
            return false
        }
        return true
    }

    @inline(never)
    private func performAsync(_ action: SessionStateMachine.Action) async {
        switch action {
        case .send, .close:
            _ = performAtOnce(action)
        case .authenticate(let request):
            // In a task of its own: logging in goes deepest (storage reads, presence), and
            // the connection's task would keep that memory for as long as the client stays.
            await Task { await self.authenticate(request) }.value
        case .accept(let send):
            await accept(send)
        case .confirm(let ids):
            await confirm(ids)
        case .read(let read):
            await storeReadReceipt(read)
        case .typing(let to):
            await forwardTyping(to: to)
        case .lookupKeys(let name, let bundle):
            await lookupKeys(name, bundle: bundle)
        case .storePrekeys(let prekeys):
            await storePrekeys(prekeys)
        case .groupChange(let change):
            await applyGroupChange(change)
        case .groupInfo(let group):
            await sendGroupInfo(group)
        case .groupSend(let send):
            await acceptGroupSend(send)
        case .blobOpen, .blobPut, .blobGet, .blobDone:
            await handleBlob(action)
        }
    }

    func emit(_ frame: RelayFrame) {
        guard !isClosed else { return }
        if case .error = frame { deps.metrics.protocolErrors.increment() }
        output.yield(.text(frame.encoded()))
    }

    private func close(code: UInt16, reason: String) {
        guard !isClosed else { return }
        isClosed = true
        spillAllLive()
        machine.closed()
        output.yield(.close(code: code, reason: reason))
    }

    private func authenticate(_ request: SessionStateMachine.AuthRequest) async {
        let config = deps.configuration
        let result: Result<String, FrameError>
        do {
            switch request {
            case .login(let login, let input):
                let signingKey = Validation.isValidName(login.name) ? try await deps.store.signingKey(of: login.name) : nil
                if let error = Authenticator.verifyLogin(login, input: input, signingKey: signingKey, now: now, allowedSkew: config.allowedClockSkewMillis) {
                    result = .failure(error)
                } else {
                    result = .success(login.name)
                }
            case .register(let register, let input):
                if let error = Authenticator.verifyRegistration(register, input: input, now: now, allowedSkew: config.allowedClockSkewMillis) {
                    result = .failure(error)
                } else {
                    let record = UserRecord(name: register.name, signingKey: register.signingKey, agreementKey: register.agreementKey)
                    let outcome = try await deps.store.register(record, invite: register.invite, registrationOpen: config.registration == .open, now: now)
                    switch outcome {
                    case .registered: result = .success(register.name)
                    case .nameTaken: result = .failure(FrameError(.nameTaken, "the name '\(register.name)' is already taken"))
                    case .inviteRequired: result = .failure(FrameError(.inviteRequired, "registration on this relay needs an invite code"))
                    case .invalidInvite: result = .failure(FrameError(.invalidInvite, "the invite code is unknown or already used"))
                    }
                }
            }
        } catch StoreError.exhausted(let what) {
            result = .failure(FrameError(.storageUnavailable, "\(StoreError.exhausted(what))"))
        } catch {
            deps.logger.error("storage failure during authentication", metadata: ["error": "\(error)"])
            result = .failure(FrameError(.storageUnavailable, "the relay cannot reach its storage; try again later"))
        }
        if case .failure = result { deps.metrics.authFailures.increment() }
        await perform(machine.authenticationFinished(result, nextNonce: Self.newNonce(), now: now))
        if case .success(let user) = result, !isClosed {
            onAuthenticated?()
            onAuthenticated = nil
            await cameOnline(user)
        }
    }

    private func cameOnline(_ user: String) async {
        deps.logger.debug("logged in", metadata: ["user": "\(user)"])
        let loginAt = now
        if let previous = deps.registry.bind(user, to: self, at: loginAt) {
            await previous.replaced()
        }
        if let cluster = deps.registry.cluster {
            await cluster.setConnected(user, true)
            await cluster.publish(.login(user: user, node: cluster.node, at: loginAt))
        }
        await pump()
        do {
            // One read of the peers serves both directions: they learn this user is online, it learns about them.
            let peers = try await deps.store.peersLastSeen(of: user)
            presencePeers.formUnion(peers.map(\.name))
            await announcePresence(of: user, online: true, lastSeen: nil, to: peers.map(\.name))
            let elsewhere = await deps.registry.cluster?.connectedElsewhere(peers.map(\.name).filter { deps.registry.session(for: $0) == nil }) ?? []
            for peer in peers where peer.name != user {
                let online = deps.registry.session(for: peer.name) != nil || elsewhere.contains(peer.name)
                emit(.presence(.init(user: peer.name, online: online, lastSeen: online ? nil : peer.lastSeen)))
            }
        } catch {
            deps.logger.warning("could not load presence", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    private func announcePresence(of user: String, online: Bool, lastSeen: Int64?, to knownPeers: [String]? = nil) async {
        var peers = knownPeers ?? []
        if knownPeers == nil {
            guard let read = try? await deps.store.peers(of: user) else { return }
            peers = read
        }
        var elsewhere: [String] = []
        for peer in peers where peer != user {
            if let session = deps.registry.session(for: peer) {
                await session.deliverEphemeral(.presence(.init(user: user, online: online, lastSeen: lastSeen)))
            } else {
                elsewhere.append(peer)
            }
        }
        if let cluster = deps.registry.cluster, !elsewhere.isEmpty {
            await cluster.publish(.presence(user: user, online: online, lastSeen: lastSeen, to: elsewhere))
        }
    }

    /// Presence and typing: sent if the connection is up, never stored.
    func deliverEphemeral(_ frame: RelayFrame) {
        guard machine.user != nil else { return }
        emit(frame)
    }

    /// Hands the message live to an online recipient, or stores it. A message goes live only
    /// once everything stored for that recipient before it has been sent to them; a recipient
    /// that refuses an offer has first stored everything it held live, so per-sender order
    /// holds across both routes.
    private func accept(_ send: ClientFrame.Send) async {
        guard let user = machine.user else { return }
        let config = deps.configuration
        let accepted = now
        let expiresAt = accepted + config.ttlMillis
        if config.liveHold > .zero, send.to != user, storedOutstanding[send.to, default: 0] == 0,
           let recipient = deps.registry.session(for: send.to) {
            let key = SQLiteMailboxStore.acceptedKey(sender: user, id: send.id)
            // A possible resend (its acknowledgement was lost) takes the stored route, which recognises it.
            if !deps.store.mightHaveAccepted(key: key) {
                let waiter = Promise<AcceptOutcome>()
                let message = LiveMessage(id: send.id, sender: user, body: send.body, acceptedAt: accepted, expiresAt: expiresAt, acceptedKey: key, waiters: [waiter])
                if await recipient.offerLive(message) {
                    acks.yield(PendingAck(id: send.id, recipient: send.to, outcome: PendingOutcome { try await waiter.value() }, route: .live))
                    return
                }
            }
        }
        storedOutstanding[send.to, default: 0] += 1
        let outcome = deps.store.enqueueAccept(id: send.id, from: user, to: send.to, body: send.body, now: accepted, expiresAt: expiresAt, quota: config.quota)
        acks.yield(PendingAck(id: send.id, recipient: send.to, outcome: outcome, route: .stored))
    }

    /// Run by the connection's ack task, in submission order.
    func finishAccept(_ pending: PendingAck) async {
        defer {
            switch pending.route {
            case .stored: storedOutstanding[pending.recipient, default: 1] -= 1
            case .live: break
            }
            if storedOutstanding[pending.recipient] == 0 { storedOutstanding[pending.recipient] = nil }
        }
        let outcome: AcceptOutcome
        do {
            outcome = try await pending.outcome.value()
        } catch {
            reportStoreFailure(error, of: pending)
            return
        }
        // Awaited, so the recipient has been sent it before a later message may go live.
        if answer(outcome, to: pending), pending.route == .stored {
            if let recipient = deps.registry.session(for: pending.recipient) {
                await recipient.mailboxChanged()
            } else {
                deps.registry.wakeElsewhere([pending.recipient])
            }
        }
        if !presencePeers.contains(pending.recipient) { await introduce(pending.recipient, after: outcome) }
    }

    /// Presence goes only between mutual contacts. A reply to someone who wrote first makes
    /// the two mutual: each learns at once whether the other is online, instead of at their
    /// next login. A first message alone (a stranger's) shows the sender nothing.
    @inline(never)
    private func introduce(_ peer: String, after outcome: AcceptOutcome) async {
        switch outcome {
        case .stored, .delivered, .duplicate: break
        case .unknownRecipient, .mailboxFull, .senderShareUsed, .idConflict: return
        }
        guard let user = machine.user, peer != user, !notMutual.contains(peer) else { return }
        guard (try? await deps.store.hasWritten(peer, to: user)) == true else {
            // Asked once per session: a reply from them introduces the two (`introduced`).
            notMutual.insert(peer)
            return
        }
        presencePeers.insert(peer)
        if let session = deps.registry.session(for: peer) {
            emit(.presence(.init(user: peer, online: true, lastSeen: nil)))
            await session.introduced(to: user)
        } else if let cluster = deps.registry.cluster, await cluster.connectedElsewhere([peer]).contains(peer) {
            emit(.presence(.init(user: peer, online: true, lastSeen: nil)))
            await cluster.publish(.presence(user: user, online: true, lastSeen: nil, to: [peer]))
        } else {
            emit(.presence(.init(user: peer, online: false, lastSeen: nil)))
        }
    }

    /// `peer` answered this user, so they are mutual contacts now: tell this user they are online.
    func introduced(to peer: String) {
        notMutual.remove(peer)
        guard machine.user != nil, presencePeers.insert(peer).inserted else { return }
        emit(.presence(.init(user: peer, online: true, lastSeen: nil)))
    }

    /// Tells the sender how its message went; true when it was stored. Out of line, so that
    /// `finishAccept`'s async frame (allocated per message) does not hold every frame built here.
    @inline(never)
    private func answer(_ outcome: AcceptOutcome, to pending: PendingAck) -> Bool {
        switch outcome {
        case .stored:
            deps.metrics.messagesAccepted.increment()
            emit(.ack(id: pending.id))
            return true
        case .delivered(let at):
            if pending.route == .live { deps.metrics.messagesAccepted.increment() }
            emit(.ackDelivered(id: pending.id, at: at))
        case .duplicate:
            emit(.ack(id: pending.id))
        case .unknownRecipient:
            emit(.error(FrameError(.unknownRecipient, "no user named '\(pending.recipient)' on this relay", ref: pending.id)))
        case .mailboxFull, .senderShareUsed:
            emit(.error(Self.mailboxRefusal(outcome, recipient: pending.recipient, ref: pending.id)))
        case .idConflict:
            emit(.error(FrameError(.idConflict, "another message with this id is waiting for \(pending.recipient); use a fresh id", ref: pending.id)))
        }
        return false
    }

    @inline(never)
    private func reportStoreFailure(_ error: any Error, of pending: PendingAck) {
        let fault = StorageFault(error)
        deps.logger.error("could not store message", metadata: ["error": "\(error)", "disk": "\(fault.map { $0.describe(whose: "the") } ?? "-")"])
        let message = fault.map { $0.describe(whose: "the relay's") + ": the message was not stored; send it again later" }
            ?? "the relay could not store the message; send it again later"
        emit(.error(FrameError(.storageUnavailable, message, ref: pending.id)))
    }

    private func confirm(_ confirmed: [String]) async {
        guard let user = machine.user else { return }
        var settled: [LiveMessage] = []
        var items: [ConfirmedItem] = []
        for id in confirmed {
            if let index = live.index(forKey: id) {
                // Only what was sent can be confirmed; a queued id is ignored like any unknown one.
                if live.values[index].sent {
                    let message = live.remove(at: index).value
                    liveBytes -= message.body.count
                    settled.append(message)
                }
            } else {
                // By position when this connection sent it; otherwise (confirmed after a reconnect) by id.
                items.append(ConfirmedItem(id: id, seq: inflight[id].flatMap { $0 > 0 ? $0 : nil }))
            }
        }
        if !settled.isEmpty { settleLive(settled) }
        if !items.isEmpty {
            let at = now
            let deletion = deps.store.enqueueConfirm(user: user, items: items, now: at, receiptExpiresAt: at + deps.configuration.ttlMillis)
            // The window reopens now, before the deletion commits: items with a known position lie
            // before the cursor, so the mailbox read will not meet them again; the others are
            // skipped by id until their deletion is done.
            for item in items { inflight[item.id] = nil }
            let unpositioned = items.filter { $0.seq == nil }.map(\.id)
            settling.formUnion(unpositioned)
            Task { [deps] in
                do {
                    let outcome = try await deletion.value()
                    deps.metrics.messagesDelivered.increment(by: Int64(outcome.deletedMessages))
                    deps.registry.wake(outcome.notified)
                } catch {
                    deps.logger.error("could not confirm delivery", metadata: ["user": "\(user)", "error": "\(error)"])
                    self.emit(.error(FrameError(.storageUnavailable, "the relay could not record the confirmation; it will redeliver")))
                }
                self.settling.subtract(unpositioned)
            }
        }
        if backlogDrained {
            sendQueuedLive()
        } else {
            await pump()
        }
    }

    static func mailboxRefusal(_ outcome: AcceptOutcome, recipient: String, ref: String) -> FrameError {
        MailboxQuota.refusal(senderShareUsed: outcome == .senderShareUsed, recipient: recipient, ref: ref)
    }

    private func storeReadReceipt(_ read: ClientFrame.Read) async {
        guard let user = machine.user else { return }
        let at = now
        do {
            let outcome = try await deps.store.acceptReadReceipt(
                id: read.id, from: user, to: read.to, messageIds: read.messageIds, now: at, expiresAt: at + deps.configuration.ttlMillis,
                quota: deps.configuration.quota)
            switch outcome {
            case .stored:
                emit(.ack(id: read.id))
                deps.registry.wake([read.to])
            case .duplicate, .delivered:
                emit(.ack(id: read.id))
            case .mailboxFull, .senderShareUsed:
                emit(.error(Self.mailboxRefusal(outcome, recipient: read.to, ref: read.id)))
            case .unknownRecipient, .idConflict:
                emit(.error(FrameError(.unknownRecipient, "no user named '\(read.to)' on this relay", ref: read.id)))
            }
        } catch {
            emit(.error(FrameError(.storageUnavailable, "the relay could not store the receipt; send it again later", ref: read.id)))
        }
    }

    private func forwardTyping(to recipient: String) async {
        guard let user = machine.user else { return }
        let session = deps.registry.session(for: recipient)
        guard session != nil || deps.registry.cluster != nil else { return }
        guard (try? await deps.store.sharesConversation(user, recipient)) == true else { return }
        if let session {
            await session.deliverEphemeral(.typing(from: user))
        } else {
            await deps.registry.cluster?.publish(.typing(from: user, to: recipient))
        }
    }

    private func lookupKeys(_ name: String, bundle: Bool) async {
        do {
            if let record = try await deps.store.user(named: name) {
                var keys = RelayFrame.Keys(name: record.name, signingKey: record.signingKey, agreementKey: record.agreementKey)
                if bundle {
                    let mayTake = name != machine.user && deps.prekeyLimiter.mayTake(requester: machine.user ?? "", from: name, now: now)
                    let prekeys = try await deps.store.takePrekeyBundle(user: name, takingOneTime: mayTake)
                    // Crossing below the owner's top-up mark (or running out): an online owner hears at once.
                    if prekeys.oneTime != nil, prekeys.oneTimeLeft == ProtocolLimits.prekeyLowWater - 1 || prekeys.oneTimeLeft == 0,
                       let owner = deps.registry.session(for: name) {
                        let status = RelayFrame.Prekeys(oneTimePreKeysLeft: prekeys.oneTimeLeft, signedPreKeyId: prekeys.signed?.id)
                        Task { await owner.emit(.prekeys(status)) }
                    }
                    keys.signedPreKeyId = prekeys.signed?.id
                    keys.signedPreKey = prekeys.signed?.key
                    keys.signedPreKeySignature = prekeys.signed?.signature
                    keys.oneTimePreKeyId = prekeys.oneTime?.id
                    keys.oneTimePreKey = prekeys.oneTime?.key
                }
                emit(.keys(keys))
            } else {
                emit(.error(FrameError(.unknownUser, "no user named '\(name)' on this relay", ref: name)))
            }
        } catch {
            emit(.error(FrameError(.storageUnavailable, "the relay cannot reach its storage; try again later", ref: name)))
        }
    }

    /// Checks the signed prekey against the user's identity key before storing anything,
    /// so the relay never serves a bundle that would fail the recipient's check.
    private func storePrekeys(_ frame: ClientFrame.PutPrekeys) async {
        guard let user = machine.user else {
            emit(.error(FrameError(.notAuthenticated, "log in before publishing prekeys", ref: "prekeys")))
            return
        }
        do {
            guard let record = try await deps.store.user(named: user) else {
                emit(.error(FrameError(.unknownUser, "your account is not known to this relay", ref: "prekeys")))
                return
            }
            var signed: SignedPrekeyRecord?
            if let id = frame.signedPreKeyId, let key = frame.signedPreKey, let signature = frame.signedPreKeySignature {
                guard SignatureVerifier.isValid(signature: signature, of: SignedPreKey.signedBytes(id: id, publicKey: key), publicKey: record.signingKey) else {
                    emit(.error(FrameError(.badSignature, "the signed prekey is not signed by your identity key", ref: "signedPreKey")))
                    return
                }
                signed = SignedPrekeyRecord(id: id, key: key, signature: signature)
            }
            let oneTime = zip(frame.oneTimePreKeyIds, frame.oneTimePreKeys).map { OneTimePrekeyRecord(id: $0, key: $1) }
            let status = try await deps.store.storePrekeys(user: user, signed: signed, oneTime: oneTime, replacingOneTime: frame.replaceOneTimePreKeys,
                                                           limit: deps.configuration.maxOneTimePrekeys, now: now)
            emit(.prekeys(.init(oneTimePreKeysLeft: status.oneTimeLeft, signedPreKeyId: status.signedID)))
        } catch {
            emit(.error(FrameError(.storageUnavailable, "the relay could not store the prekeys; send them again later", ref: "prekeys")))
        }
    }

    // MARK: - Groups

    private func applyGroupChange(_ change: GroupChange) async {
        let accepted = now
        do {
            switch try await deps.store.applyGroupChange(change, now: accepted, expiresAt: accepted + deps.configuration.ttlMillis,
                                                          maxMembers: deps.configuration.maxGroupMembers, quota: deps.configuration.quota) {
            case .applied(_, let notify):
                emit(.ack(id: change.id))
                deps.registry.wake(notify)
            case .duplicate:
                emit(.ack(id: change.id))
            case .refused(let error):
                emit(.error(error))
            }
        } catch {
            deps.logger.error("could not change a group", metadata: ["error": "\(error)"])
            emit(.error(FrameError(.storageUnavailable, "the relay could not store the change; send it again later", ref: change.id)))
        }
    }

    private func sendGroupInfo(_ group: String) async {
        guard let user = machine.user else { return }
        do {
            if let record = try await deps.store.groupInfo(group, for: user) {
                emit(.groupInfo(record.frame))
            } else {
                emit(.error(FrameError(.unknownGroup, "no group named #\(group) that you are a member of", ref: group)))
            }
        } catch {
            emit(.error(FrameError(.storageUnavailable, "the relay could not read the group; ask again later", ref: group)))
        }
    }

    /// Stored whole or not at all; a copy set that no longer matches the members is answered
    /// with the current group first, so the client can re-encrypt for it and retry.
    private func acceptGroupSend(_ send: ClientFrame.GroupSend) async {
        guard let user = machine.user else { return }
        let accepted = now
        do {
            switch try await deps.store.acceptGroupSend(id: send.id, from: user, group: send.group, copies: send.copies.map { ($0.to, $0.body) },
                                                         now: accepted, expiresAt: accepted + deps.configuration.ttlMillis, quota: deps.configuration.quota) {
            case .stored(let recipients):
                deps.metrics.messagesAccepted.increment(by: Int64(recipients.count))
                emit(.ack(id: send.id))
                deps.registry.wake(recipients)
            case .duplicate:
                emit(.ack(id: send.id))
            case .refused(let error):
                emit(.error(error))
            case .membershipChanged(let record):
                emit(.groupInfo(record.frame))
                emit(.error(FrameError(.membershipChanged, "the members of #\(send.group) changed; encrypt for the current members and send again", ref: send.id)))
            }
        } catch {
            deps.logger.error("could not store a group message", metadata: ["error": "\(error)"])
            emit(.error(FrameError(.storageUnavailable, "the relay could not store the message; send it again later", ref: send.id)))
        }
    }

    // MARK: - Delivery

    private func pump() async {
        guard let user = machine.user, !isClosed else { return }
        if pumping {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        let window = deps.configuration.deliveryWindow
        backlogDrained = false
        repeat {
            pumpAgain = false
            while !isClosed, inflight.count + liveSent < window {
                let room = window - inflight.count - liveSent
                let items: [MailboxItem]
                do {
                    items = try await deps.store.pending(for: user, after: cursor, limit: room, now: now)
                } catch {
                    deps.logger.error("could not read mailbox", metadata: ["user": "\(user)", "error": "\(error)"])
                    return
                }
                send(items)
                if items.count < room {
                    backlogDrained = !pumpAgain && spillsPending == 0
                    if !sentQueueEmpty {
                        sentQueueEmpty = true
                        emit(.queueEmpty)
                    }
                    break
                }
            }
        } while pumpAgain && !isClosed
        pumping = false
        sendQueuedLive()
    }

    /// Sends a page read from the mailbox. Out of line, so that `pump`'s async frame does not
    /// hold the frames built here.
    @inline(never)
    private func send(_ items: [MailboxItem]) {
        for item in items where item.seq > cursor {
            cursor = item.seq
            // Confirmed already; its deletion has not committed yet.
            if settling.contains(item.id) { continue }
            // Sent live earlier and stored when its confirmation was late: already on its way.
            if let known = inflight[item.id] {
                if known == 0 { inflight[item.id] = item.seq }
                continue
            }
            inflight[item.id] = item.seq
            emit(Self.frame(for: item))
        }
    }

    static func frame(for item: MailboxItem) -> RelayFrame {
        switch item.kind {
        case .message:
            return .message(.init(id: item.id, from: item.sender, body: item.body, sentAt: item.acceptedAt, group: item.group))
        case .groupEvent:
            guard let event = try? JSONDecoder().decode(GroupEventRecord.self, from: item.body) else {
                return .groupEvent(.init(id: item.id, group: item.group ?? "", action: .rename, actor: item.sender, subjects: [], members: [], admins: [], title: "", at: item.acceptedAt))
            }
            return .groupEvent(event.frame(id: item.id, group: item.group ?? "", actor: item.sender, at: item.acceptedAt))
        case .delivered, .read, .expired:
            let kind: RelayFrame.ReceiptKind = item.kind == .delivered ? .delivered : item.kind == .read ? .read : .expired
            return .receipt(.init(id: item.id, kind: kind, from: item.sender, messageIds: Self.lines(of: item.body), at: item.acceptedAt))
        }
    }

    /// A stored receipt's ids, one per line, read in place (`Data.split` made a `Data` per id first).
    static func lines(of body: Data) -> [String] {
        body.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lines: [String] = []
            var start = 0
            for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
                if index > start { lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)) }
                start = index + 1
            }
            if bytes.count > start { lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self)) }
            return lines
        }
    }

    /// 32 bytes from the system's generator, a word at a time (a byte at a time was 32 system calls).
    private static func newNonce() -> Data {
        var generator = SystemRandomNumberGenerator()
        var nonce = Data(count: 32)
        nonce.withUnsafeMutableBytes { raw in
            for offset in stride(from: 0, to: 32, by: 8) {
                raw.storeBytes(of: generator.next() as UInt64, toByteOffset: offset, as: UInt64.self)
            }
        }
        return nonce
    }
}
