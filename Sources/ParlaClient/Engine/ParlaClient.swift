import Foundation
import Logging
import ParlaCrypto
import ParlaProtocol

/// The client engine: keeps a connection to the relay, flushes the durable outbox,
/// commits incoming messages before confirming them, and tracks receipts. UI-agnostic:
/// UIs call its methods and read `events`. Long-running work happens in `run()`.
public actor ParlaClient {
    public nonisolated let events: AsyncStream<ClientEvent>
    let eventSink: AsyncStream<ClientEvent>.Continuation
    public nonisolated let profile: Profile
    public nonisolated let store: ClientStore
    public nonisolated let server: String
    private let transport: any RelayTransport
    let clock: any ClientClock
    let logger: Logger

    public private(set) var connectionState: ConnectionState = .offline
    private var policy: ReconnectPolicy
    var link: (any RelayLink)?
    private var inflight: Set<String> = []
    private var maxInflight = 512
    private var retryTask: Task<Void, Never>?
    /// The disappearing-messages sweep's wait; cancelled when a sooner expiry is stored.
    var expirySleep: Task<Void, Never>?
    // Attachments (ParlaClient+attachments.swift).
    var blobInbox: [String: [BlobReply]] = [:]
    var blobWaiters: [String: Waiter<BlobReply?>] = [:]
    var transferring = false
    var transferAgain = false
    var transferRetryScheduled = false
    var transferWaiters: [Waiter<Void>] = []
    private var flushRetryScheduled = false
    private var flushing = false
    /// Bumped for every new connection, so work begun for an old one stops.
    private var linkGeneration = 0
    /// The relay key every challenge must be signed by: the profile's, or the one first seen
    /// by a profile made before relays had keys.
    private var relayKey: Data?
    private var flushAgain = false
    /// Outcomes of sends, for callers waiting on one message (e.g. `parla send`).
    private var settledWaiters: [String: [Waiter<MessageRecord?>]] = [:]
    private var syncWaiters: [Waiter<Void>] = []
    private var hasSynced = false
    private var outboxWaiters: [Waiter<Void>] = []
    /// Callers waiting for a contact's prekey bundle, by name.
    var bundleWaiters: [String: [Waiter<BundleResult>]] = [:]
    /// Group requests waiting for their `ack` or `error`, by request id.
    var groupRequestWaiters: [String: Waiter<Result<Void, EngineError>>] = [:]
    /// Groups whose messages wait because the relay's members are not the signed ones, with
    /// the version they wait past.
    var heldGroups: [String: Int] = [:]
    /// What the relay last said of each group, next to the signed state.
    var relayGroupViews: [String: ClientStore.RelayGroupView] = [:]
    /// The version of each group already warned about (one warning per disagreement).
    var warnedGroupVersions: [String: Int] = [:]
    /// `groupInfo` requests waiting for the answer, by group.
    var groupInfoWaiters: [String: [Waiter<RelayFrame.GroupInfo?>]] = [:]
    /// What arrived but could not be written to the local database (a full disk): kept, not
    /// confirmed, and written again on a backoff, without waiting for a reconnect.
    var unstoredIncoming: [ClientStore.EncryptedIncoming] = []
    var unstoredGroupEvents: [RelayFrame.GroupEvent] = []
    /// Messages the relay acknowledged whose new status could not be written: not sent again
    /// (the relay has them), written again on the same backoff.
    var unrecordedAcks: [(id: String, delivered: Bool)] = []
    var storageRetryDelay: Duration = .zero
    var storageRetryScheduled = false

    public init(profile: Profile, server: String? = nil, transport: any RelayTransport, clock: any ClientClock = SystemClock(),
                policy: ReconnectPolicy = ReconnectPolicy(), logger: Logger) throws {
        self.profile = profile
        self.server = server ?? profile.server
        do {
            self.store = try ClientStore(path: profile.databasePath)
        } catch {
            throw EngineError.storage("\(profile.databasePath): \(error)")
        }
        self.transport = transport
        self.clock = clock
        self.policy = policy
        self.logger = logger
        self.relayKey = profile.relayKey
        (events, eventSink) = AsyncStream<ClientEvent>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    // MARK: - Public API

    /// The longest plaintext (a text, or a group text with its JSON) whose envelope the relay
    /// takes: derived from the padding rule, so nothing accepted here is refused later.
    public static let maxPlaintextBytes = Padding.largestPlaintext(fitting: ProtocolLimits.maxBodyBytes, overhead: Envelope.maxOverhead)

    /// Commits the message to the outbox (status `queued`) and sends it when possible.
    @discardableResult
    /// With `replyTo`, the message answers that one (an id in the same chat).
    public func send(_ text: String, to recipient: String, replyTo: String? = nil) throws -> MessageRecord {
        let groupName = ClientStore.groupName(ofChat: recipient)
        guard Validation.isValidName(groupName ?? recipient) else { throw EngineError.invalidRecipient(recipient) }
        guard !text.isEmpty else { throw EngineError.emptyMessage }
        if let replyTo {
            guard (try? store.message(inChat: recipient, id: replyTo)) != nil else { throw EngineError.unknownMessage(replyTo) }
        }
        // A leading 0x00 marks Parla's own control messages inside the encryption (MessageContent).
        guard !text.utf8.contains(0) else { throw EngineError.nulCharacter }
        let size = MessageContent.written(text, group: groupName, replyTo: replyTo).encoded.count
        // Longer than one message holds: it goes as a file, shown as the text on the other side.
        guard size <= Self.maxPlaintextBytes else { return try sendLongText(text, to: recipient, replyTo: replyTo) }
        let record: MessageRecord
        let id = UUID().uuidString.lowercased()
        do {
            if let groupName {
                guard let group = try store.group(groupName) else { throw EngineError.unknownGroup(groupName) }
                guard group.isMember else { throw EngineError.notGroupMember(groupName) }
                // Writing to a group one was invited to is joining it.
                try store.acceptInvitation(to: groupName)
                record = try store.enqueueGroupMessage(id: id, from: profile.name, group: group, text: text, replyTo: replyTo, at: clock.now())
            } else {
                record = try store.enqueueMessage(id: id, from: profile.name, to: recipient, text: text, replyTo: replyTo, at: clock.now())
            }
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError.storage("\(error)")
        }
        eventSink.yield(.messageAdded(record))
        if record.expiresAt != nil { expiryScheduled() }
        Task { await self.flushOutbox() }
        return record
    }

    /// Reacts to message `id` of `chat` with `emoji` (one per person; empty takes it back).
    public func react(to id: String, in chat: String, with emoji: String) throws {
        guard ClientStore.isValidReaction(emoji) else { throw EngineError.invalidReaction(emoji) }
        let message = try storing {
            guard let message = try store.message(inChat: chat, id: id), message.deleted == nil else { throw EngineError.unknownMessage(id) }
            try store.enqueueReaction(to: message, emoji: emoji, me: profile.name, group: try memberGroup(ofChat: chat), at: clock.now())
            return message
        }
        eventSink.yield(.messageUpdated(message))
        Task { await self.flushOutbox() }
    }

    /// Marks every message in `chat` read, and tells the sender unless read receipts are off.
    public func markRead(chat: String) throws {
        // Reading an invitation tells its sender nothing, not even that we exist and looked.
        let invited = try ClientStore.groupName(ofChat: chat).map { try store.invitation(to: $0) != nil } ?? false
        let ids = try store.markRead(chat: chat, report: readReceiptsEnabled && !invited, receiptID: "rd-" + UUID().uuidString.lowercased())
        if !ids.isEmpty, readReceiptsEnabled {
            Task { await self.flushOutbox() }
        }
    }

    /// Chats, most recent activity first.
    public func chats() throws -> [ChatSummary] {
        try store.chats()
    }

    /// One page of a chat, oldest first; pass the first message's `localID` to get the page before it.
    public func history(chat: String, limit: Int = 50, before localID: Int64? = nil) throws -> [MessageRecord] {
        try store.history(chat: chat, limit: limit, before: localID)
    }

    /// Reactions in `chat`: message id → emoji → who, in the order they reacted.
    public func reactions(inChat chat: String) throws -> [String: [String: [String]]] {
        try store.reactions(inChat: chat)
    }

    /// Full-text search over the whole history, newest first.
    public func search(_ text: String, limit: Int = 100) throws -> [MessageRecord] {
        try store.search(text, limit: limit)
    }

    /// Off means we neither send read receipts nor show others' (as WhatsApp does).
    public var readReceiptsEnabled: Bool {
        (try? store.setting("readReceipts")) != "off"
    }

    public func setReadReceipts(_ enabled: Bool) throws {
        try store.setSetting("readReceipts", enabled ? "on" : "off")
    }

    public func retry(localID: Int64) throws -> MessageRecord? {
        guard let record = try store.retry(localID: localID) else { return nil }
        eventSink.yield(.messageUpdated(record))
        Task { await self.flushOutbox() }
        return record
    }

    public func deleteFailed(localID: Int64) throws -> Bool {
        try store.deleteFailed(localID: localID)
    }

    public func sendTyping(to recipient: String) async {
        guard connectionState == .online, let link, Validation.isValidName(recipient) else { return }
        await link.send(ClientFrame.typing(.init(to: recipient)).encoded())
    }

    /// Ends `events` once the engine is done, so a consumer can drain what is left.
    public func finishEvents() {
        eventSink.finish()
    }

    /// Skips the current backoff wait and reconnects at once.
    public func retryNow() {
        policy.reset()
        retryTask?.cancel()
    }

    /// Waits until the message with this id is no longer queued (sent or failed); nil if cancelled.
    public func waitUntilSettled(id: String) async -> MessageRecord? {
        if let current = try? store.message(sender: profile.name, id: id), current.status != .queued {
            return current
        }
        let waiter = Waiter<MessageRecord?>(cancelled: nil)
        settledWaiters[id, default: []].append(waiter)
        return await waiter.wait()
    }

    /// Waits until the relay has handed over everything waiting (`queueEmpty`) on the current connection.
    public func waitUntilSynced() async {
        if hasSynced { return }
        let waiter = Waiter<Void>(cancelled: ())
        syncWaiters.append(waiter)
        await waiter.wait()
    }

    /// Waits until nothing is left in the outbox (messages and read receipts).
    /// Whether anything waits to go out (messages, and Parla's own: reactions, read receipts).
    public func hasOutboxItems() -> Bool {
        (try? store.outbox(limit: 1).isEmpty) == false
    }

    public func waitUntilOutboxEmpty() async {
        while ((try? store.outbox(limit: 1).isEmpty) ?? true) == false {
            if Task.isCancelled { return }
            let waiter = Waiter<Void>(cancelled: ())
            outboxWaiters.append(waiter)
            await waiter.wait()
        }
    }

    func notifyOutboxWaiters() {
        let waiters = outboxWaiters
        outboxWaiters = []
        for waiter in waiters { waiter.resume(()) }
    }

    public func outboxCount() -> Int {
        (try? store.outboxCount()) ?? 0
    }

    // MARK: - Connection loop

    /// Why the last attempt to connect or log in failed (nil once logged in): commands print it
    /// after the engine has stopped, when the connection state no longer says.
    public private(set) var lastFailure: String?

    /// Connects, stays connected and reconnects with backoff until the task is cancelled;
    /// meanwhile, online or not, messages of chats with a timer disappear when due.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.sweepExpiredMessages() }
            await connectionLoop()
            group.cancelAll()
        }
    }

    private func connectionLoop() async {
        // A relay of several nodes: after a loss the next node is tried at once, and the
        // backoff starts only when every node of the round has failed.
        let nodes = RelayURL.nodes(server)
        var nodeIndex = 0
        var untriedNodes = nodes.count - 1
        while !Task.isCancelled {
            var onlineFor: Duration?
            var reason = "connection closed"
            setState(.connecting)
            do {
                let link = try await transport.connect(to: nodes[nodeIndex])
                self.link = link
                linkGeneration += 1
                setState(.authenticating)
                try await authenticate(link)
                lastFailure = nil
                setState(.online)
                let since = clock.uptime()
                await checkPrekeys(on: link)
                // Not awaited here: sealing may wait for a bundle that only `serve` can receive.
                Task { await self.flushOutbox() }
                Task { await self.runTransfers() }
                reason = await serve(link)
                onlineFor = clock.uptime() - since
            } catch let error as EngineError {
                reason = error.description
                eventSink.yield(.notice(reason))
                lastFailure = reason
            } catch {
                reason = "\(error)"
                lastFailure = reason
            }
            await dropLink()
            if Task.isCancelled { break }
            nodeIndex = (nodeIndex + 1) % nodes.count
            if onlineFor != nil { untriedNodes = nodes.count - 1 }
            if untriedNodes > 0 {
                untriedNodes -= 1
                logger.info("connection ended; trying the next node", metadata: ["reason": "\(reason)", "node": "\(nodes[nodeIndex])"])
                continue
            }
            untriedNodes = nodes.count - 1
            let delay = policy.nextDelay(onlineFor: onlineFor)
            logger.info("connection ended; retrying", metadata: ["reason": "\(reason)", "delay": "\(delay)"])
            setState(.waitingToRetry(retryAt: clock.now().addingTimeInterval(ManualClock.seconds(delay)), reason: reason))
            await waitBeforeRetry(delay)
        }
        await dropLink()
        setState(.offline)
    }

    private func waitBeforeRetry(_ delay: Duration) async {
        let clock = self.clock
        let task = Task { _ = try? await clock.sleep(for: delay) }
        retryTask = task
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        retryTask = nil
    }

    private func dropLink() async {
        failBundleRequests()
        failGroupRequests()
        failBlobWaits()
        if let link {
            self.link = nil
            await link.close()
        }
        inflight.removeAll()
        hasSynced = false
    }

    private func setState(_ state: ConnectionState) {
        guard state != connectionState else { return }
        connectionState = state
        eventSink.yield(.connection(state))
    }

    private func authenticate(_ link: any RelayLink) async throws {
        guard let text = await link.receive() else { throw TransportError.unreachable("closed before the challenge") }
        guard case .challenge(let challenge) = try RelayFrame.decode(text) else {
            throw EngineError.protocolViolation("expected a challenge")
        }
        let key = try RelayIdentityCheck.challenge(challenge, pinnedIdentity: profile.relayIdentity, pinnedKey: relayKey)
        let timestamp = Int64(clock.now().timeIntervalSince1970 * 1000)
        let statement = AuthStatement(action: .login, relay: challenge.relay, nonce: challenge.nonce, name: profile.name, timestamp: timestamp)
        await link.send(ClientFrame.login(.init(name: profile.name, timestamp: timestamp, signature: statement.signed(with: profile.keys))).encoded())
        guard let reply = await link.receive() else { throw TransportError.unreachable("closed during login") }
        switch try RelayFrame.decode(reply) {
        case .welcome(let welcome):
            try RelayIdentityCheck.welcome(welcome, challenge: challenge, name: profile.name, clientTime: timestamp, key: key)
            if relayKey == nil, let key {
                // A profile from before relay keys: this login proved the key; from now on it is required.
                do {
                    _ = try profile.pinning(relayKey: key)
                } catch {
                    logger.warning("could not save the relay's key", metadata: ["error": "\(error)"])
                }
                relayKey = key
            }
            return
        case .error(let error): throw EngineError.relayRefused(code: error.code.rawValue, message: error.message)
        default: throw EngineError.protocolViolation("expected welcome")
        }
    }

    /// Handles frames until the link closes; returns why it closed.
    private func serve(_ link: any RelayLink) async -> String {
        while let first = await link.receive() {
            let batch = [first] + (await link.receiveAvailable())
            await handle(batch, on: link)
        }
        switch await link.closeCode() {
        case 1001: return "the relay is restarting"
        case 4000: return "logged in from another client"
        case let code?: return "closed by the relay (code \(code))"
        case nil: return "connection lost"
        }
    }

    // MARK: - Frames

    private func handle(_ texts: [String], on link: any RelayLink) async {
        var incoming: [ClientStore.EncryptedIncoming] = []
        var groupEvents: [RelayFrame.GroupEvent] = []
        var confirm: [String] = []
        /// Acknowledged ids, and whether the recipient already had each (a live delivery).
        var acked: [(id: String, delivered: Bool)] = []
        for text in texts {
            let frame: RelayFrame
            do {
                frame = try RelayFrame.decode(text)
            } catch {
                logger.warning("undecodable frame from relay", metadata: ["error": "\(error)"])
                continue
            }
            switch frame {
            case .message(let message):
                incoming.append(.init(id: message.id, from: message.from, body: message.body, sentAt: Date(timeIntervalSince1970: Double(message.sentAt) / 1000),
                                      group: message.group))
                confirm.append(message.id)
            case .receipt(let receipt):
                applyReceipt(receipt)
                confirm.append(receipt.id)
            case .ack(let id):
                if let waiter = groupRequestWaiters.removeValue(forKey: id) {
                    waiter.resume(.success(()))
                } else {
                    acked.append((id, false))
                }
            case .ackDelivered(let id, _):
                acked.append((id, true))
            case .error(let error):
                handleError(error)
            case .queueEmpty:
                hasSynced = true
                eventSink.yield(.synced)
                let waiters = syncWaiters
                syncWaiters = []
                for waiter in waiters { waiter.resume(()) }
            case .typing(let from):
                eventSink.yield(.typing(from: from))
            case .presence(let presence):
                eventSink.yield(.presence(user: presence.user, online: presence.online, lastSeen: presence.lastSeen.map { Date(timeIntervalSince1970: Double($0) / 1000) }))
            case .keys(let keys):
                bundleArrived(.keys(keys), for: keys.name)
            case .prekeys(let status):
                await prekeysReported(status, on: link)
            case .groupInfo(let info):
                groupInfoArrived(info)
            case .groupEvent(let event):
                groupEvents.append(event)
                confirm.append(event.id)
            case .blobStatus(let status):
                blobArrived(status.blob, .status(status))
            case .blobChunk(let chunk):
                blobArrived(chunk.blob, .chunk(chunk))
            case .challenge, .welcome:
                break
            }
        }
        // What could not be written before goes first, so the order in which things arrived holds;
        // it was taken out of an earlier confirmation, so it is confirmed here once written.
        let retriedEvents = unstoredGroupEvents.map(\.id)
        groupEvents = unstoredGroupEvents + groupEvents
        unstoredGroupEvents = []
        var retriedIncoming: [String] = []
        if !incoming.isEmpty {
            retriedIncoming = unstoredIncoming.map(\.id)
            incoming = unstoredIncoming + incoming
            unstoredIncoming = []
        }
        if !groupEvents.isEmpty {
            do {
                try storeGroupEvents(groupEvents)
                confirm += retriedEvents
            } catch {
                logger.error("could not store group events; not confirming", metadata: ["error": "\(error)"])
                let ids = Set(groupEvents.map(\.id))
                confirm.removeAll { ids.contains($0) }
                unstoredGroupEvents = groupEvents
                storageFailed(error)
            }
        }
        if !incoming.isEmpty {
            do {
                guard unstoredGroupEvents.isEmpty else { throw StorageRetryPending() }
                try storeIncoming(incoming)
                confirm += retriedIncoming
            } catch {
                logger.error("could not store incoming messages; not confirming", metadata: ["error": "\(error)"])
                let ids = Set(incoming.map(\.id))
                confirm.removeAll { ids.contains($0) }
                unstoredIncoming = incoming
                if !(error is StorageRetryPending) { storageFailed(error) }
            }
        }
        if !confirm.isEmpty { await send(confirm: confirm, on: link) }
        if !acked.isEmpty {
            for (id, _) in acked { inflight.remove(id) }
            do {
                try recordAcks(unrecordedAcks + acked)
                unrecordedAcks = []
            } catch {
                // Still in the outbox, and not sent again: the relay has them. The status is written
                // on the storage backoff; a restart before then sends them again and the relay acks the resend.
                logger.error("could not record acks", metadata: ["count": "\(acked.count)", "error": "\(error)"])
                unrecordedAcks += acked
                storageFailed(error)
            }
            notifyOutboxWaiters()
            // Sending more while acks cannot be written would only spin: the backoff flushes.
            if unrecordedAcks.isEmpty { await flushOutbox() }
        }
    }

    private func applyReceipt(_ receipt: RelayFrame.Receipt) {
        let status: MessageStatus
        var reason: String?
        switch receipt.kind {
        case .delivered: status = .delivered
        case .read:
            guard readReceiptsEnabled else { return }
            status = .read
        case .expired:
            status = .failed
            reason = "expired: \(receipt.from) did not come online before the relay's time limit"
        }
        do {
            for record in try store.applyReceipt(status: status, messageIds: receipt.messageIds, me: profile.name, from: receipt.from, reason: reason) {
                eventSink.yield(.messageUpdated(record))
            }
        } catch {
            logger.error("could not apply receipt", metadata: ["error": "\(error)"])
        }
    }

    private func handleError(_ error: FrameError) {
        if let ref = error.ref, BlobLimits.isValidBlobID(ref) {
            blobArrived(ref, .error(error))
            return
        }
        if error.code == .unknownUser, let ref = error.ref, bundleWaiters[ref] != nil {
            bundleArrived(.unknownUser, for: ref)
            return
        }
        if let ref = error.ref, let waiter = groupRequestWaiters.removeValue(forKey: ref) {
            waiter.resume(.failure(.relayRefused(code: error.code.rawValue, message: error.message)))
            return
        }
        if error.code == .unknownGroup, let ref = error.ref, groupInfoWaiters[ref] != nil {
            for waiter in groupInfoWaiters.removeValue(forKey: ref) ?? [] { waiter.resume(nil) }
            return
        }
        if error.code == .membershipChanged, let ref = error.ref, inflight.contains(ref) {
            // The group info came just before: seal for the members of now and send again.
            inflight.remove(ref)
            membershipChanged(outboxID: ref)
            return
        }
        guard let ref = error.ref, inflight.contains(ref) else {
            logger.warning("relay error", metadata: ["code": "\(error.code.rawValue)", "message": "\(error.message)"])
            return
        }
        inflight.remove(ref)
        switch error.code {
        case .rateLimited, .storageUnavailable, .internalError:
            scheduleFlushRetry()
        default:
            reject(ref, reason: error.message)
        }
    }

    /// An outbox item that can never go out: it fails with `reason` (the user can /retry or /delete it).
    func reject(_ id: String, reason: String) {
        do {
            if let record = try store.rejected(id: id, me: profile.name, reason: reason) {
                settled(record)
                eventSink.yield(.messageUpdated(record))
            }
            notifyOutboxWaiters()
        } catch {
            logger.error("could not record rejection", metadata: ["error": "\(error)"])
        }
    }

    func settled(_ record: MessageRecord) {
        if let waiters = settledWaiters.removeValue(forKey: record.id) {
            for waiter in waiters { waiter.resume(record) }
        }
    }

    private func scheduleFlushRetry() {
        guard !flushRetryScheduled else { return }
        flushRetryScheduled = true
        let clock = self.clock
        Task {
            try? await clock.sleep(for: .seconds(1))
            await self.flushAfterRetryDelay()
        }
    }

    private func flushAfterRetryDelay() async {
        flushRetryScheduled = false
        await flushOutbox()
    }

    /// Sends outbox items, in order, that are not already on the wire. One flush runs
    /// at a time (a request during one makes it go round again), so frames leave in
    /// outbox order even though sending suspends.
    func flushOutbox() async {
        if flushing {
            flushAgain = true
            return
        }
        flushing = true
        defer { flushing = false }
        repeat {
            flushAgain = false
            await flushOnce()
        } while flushAgain
    }

    private func flushOnce() async {
        guard connectionState == .online, let link else { return }
        let generation = linkGeneration
        let room = maxInflight - inflight.count
        guard room > 0 else { return }
        let items: [ClientStore.OutboxItem]
        do {
            items = try store.outbox(limit: maxInflight)
        } catch {
            logger.error("could not read outbox", metadata: ["error": "\(error)"])
            return
        }
        var sent = 0
        let acknowledged = Set(unrecordedAcks.map(\.id))
        for item in items where !inflight.contains(item.id) && !acknowledged.contains(item.id) {
            // Sending suspends; if the link was replaced meanwhile, the new one's flush takes over.
            guard sent < room, generation == linkGeneration, self.link != nil else { break }
            inflight.insert(item.id)
            sent += 1
            switch item.kind {
            case .group:
                switch await sealGroup(item, on: link) {
                case .sealed(let frame):
                    guard generation == linkGeneration, self.link != nil else {
                        inflight.remove(item.id)
                        return
                    }
                    await link.send(frame)
                case .refused(let reason):
                    inflight.remove(item.id)
                    reject(item.id, reason: reason)
                case .later:
                    inflight.remove(item.id)
                    scheduleFlushRetry()
                    return
                case .held:
                    inflight.remove(item.id)
                    sent -= 1
                }
            case .message, .control:
                var body = item.envelope
                if body == nil {
                    switch await seal(item, on: link) {
                    case .sealed(let envelope):
                        body = envelope
                    case .refused(let reason):
                        inflight.remove(item.id)
                        reject(item.id, reason: reason)
                        continue
                    case .later:
                        inflight.remove(item.id)
                        scheduleFlushRetry()
                        return
                    }
                }
                guard generation == linkGeneration, self.link != nil, let body else {
                    inflight.remove(item.id)
                    return
                }
                await link.send(ClientFrame.send(.init(id: item.id, to: item.recipient, body: body)).encoded())
            case .read:
                let ids = String(decoding: item.payload, as: UTF8.self).split(separator: "\n").map(String.init)
                await link.send(ClientFrame.read(.init(id: item.id, to: item.recipient, messageIds: ids)).encoded())
            }
        }
    }
}

/// A one-time wake-up that also ends, with a fixed value, when its task is cancelled.
final class Waiter<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Never>?
    private var value: T?
    private let cancelled: T

    init(cancelled: T) {
        self.cancelled = cancelled
    }

    func wait() async -> T {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: T? = lock.withLock {
                    if let value { return value }
                    self.continuation = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            resume(cancelled)
        }
    }

    func resume(_ result: T) {
        let continuation: CheckedContinuation<T, Never>? = lock.withLock {
            guard value == nil else { return nil }
            value = result
            defer { self.continuation = nil }
            return self.continuation
        }
        continuation?.resume(returning: result)
    }
}
