import Foundation
import ParlaCrypto
import ParlaProtocol

/// End-to-end encryption in the engine: publishing prekeys, fetching a contact's
/// bundle, and sealing outbox messages. Every message leaves encrypted; there is
/// no plaintext path.
extension ParlaClient {
    /// Fewer one-time prekeys than this on the relay: publish a new batch.
    static let prekeyLowWater = ProtocolLimits.prekeyLowWater
    static let prekeyBatch = 100
    /// Signed prekeys are replaced after a week.
    static let signedPreKeyLifetime: TimeInterval = 7 * 86_400

    enum BundleResult: Sendable {
        case keys(RelayFrame.Keys)
        case unknownUser
        case unavailable
    }

    enum SealOutcome {
        case sealed(Data)
        /// Will not work however often it is tried: the message fails with this reason.
        case refused(String)
        /// Try again later (link lost, relay busy).
        case later
    }

    /// After login: ask the relay how many prekeys it holds for us; `prekeysReported` tops them up.
    func checkPrekeys(on link: any RelayLink) async {
        await link.send(ClientFrame.putPrekeys(.init()).encoded())
    }

    /// Publishes a new signed prekey when there is none (or it is a week old) and a batch
    /// of one-time prekeys when few are left. Private halves are committed first.
    func prekeysReported(_ status: RelayFrame.Prekeys, on link: any RelayLink) async {
        do {
            var signed: SignedPreKey?
            let current = try store.currentSignedPreKey()
            // The relay holds a signed prekey this database never made: Parla was reinstalled (or its
            // database lost), so the one-time prekeys on the relay are useless and must be replaced.
            let lostLocalKeys = try status.signedPreKeyId.map { try !store.hasOwnSignedPreKey(id: $0) } ?? false
            if status.signedPreKeyId == nil || current == nil || status.signedPreKeyId != current?.id
                || clock.now().timeIntervalSince(current!.createdAt) > Self.signedPreKeyLifetime {
                let id = try store.allocatePrekeyIDs(1).lowerBound
                signed = SignedPreKey(id: id, identity: profile.keys, createdAt: clock.now())
            }
            var oneTime: [OneTimePreKey] = []
            if status.oneTimePreKeysLeft < Self.prekeyLowWater || lostLocalKeys {
                oneTime = try store.allocatePrekeyIDs(Self.prekeyBatch).map { OneTimePreKey(id: $0) }
            }
            guard signed != nil || !oneTime.isEmpty else { return }
            try store.saveOwnPrekeys(signed: signed, oneTime: oneTime)
            await link.send(ClientFrame.putPrekeys(.init(
                signedPreKeyId: signed?.id, signedPreKey: signed?.keyPair.publicKey, signedPreKeySignature: signed?.signature,
                oneTimePreKeyIds: oneTime.map(\.id), oneTimePreKeys: oneTime.map(\.keyPair.publicKey),
                replaceOneTimePreKeys: lostLocalKeys)).encoded())
        } catch {
            logger.error("could not prepare prekeys", metadata: ["error": "\(error)"])
        }
    }

    /// Encrypts an outbox message, starting a session from the contact's bundle when there is none.
    /// The ratchet step and the resulting envelope are committed together.
    func seal(_ item: ClientStore.OutboxItem, on link: any RelayLink) async -> SealOutcome {
        switch await sealPayload(item.payload, for: item.recipient, on: link, storing: .direct(outboxID: item.id)) {
        case .sealed(let envelope): return .sealed(envelope)
        case .refused(let reason): return .refused(reason)
        case .later: return .later
        }
    }

    enum PayloadSeal {
        /// Committed with the session's step.
        case sealed(Data)
        case refused(String)
        case later
    }

    /// One ratchet step for `peer` over `payload`, starting a session from their bundle when there
    /// is none. The step happens inside the write transaction that stores its envelope (`target`),
    /// reading the session there: another process on the same profile can never take the same
    /// step (the same key and nonce for two messages).
    /// `expecting`: the identity key a group's signed state gives `peer`; a different pinned key
    /// (unless the user verified it) gets nothing.
    func sealPayload(_ payload: Data, for peer: String, on link: any RelayLink, storing target: ClientStore.SealTarget,
                     expecting signedKey: Data? = nil, in group: String? = nil) async -> PayloadSeal {
        do {
            var fresh: ClientStore.Session?
            if try store.session(with: peer) == nil {
                switch await requestBundle(for: peer, on: link) {
                case .unavailable:
                    return .later
                case .unknownUser:
                    return .refused("no user named '\(peer)' on this relay")
                case .keys(let keys):
                    guard let signedID = keys.signedPreKeyId, let signedKey = keys.signedPreKey, let signature = keys.signedPreKeySignature else {
                        return .refused("\(peer) has not set up encryption yet: they need to start Parla once, then /retry")
                    }
                    let bundle = PreKeyBundle(identitySigningKey: keys.signingKey, identityAgreementKey: keys.agreementKey, signedPreKeyID: signedID,
                                              signedPreKey: signedKey, signedPreKeySignature: signature,
                                              oneTimePreKeyID: keys.oneTimePreKeyId, oneTimePreKey: keys.oneTimePreKey)
                    if let notice = try store.pin(name: peer, signingKey: keys.signingKey, agreementKey: keys.agreementKey, me: profile.name) {
                        eventSink.yield(.messageAdded(notice))
                        eventSink.yield(.notice(notice.text))
                    }
                    let started = try X3DH.initiate(identity: profile.keys, bundle: bundle)
                    let ratchet = try DoubleRatchet.initiator(sharedKey: started.sharedKey, remoteRatchetKey: signedKey, associatedData: started.associatedData)
                    fresh = ClientStore.Session(ratchet: ratchet, preKey: Envelope.PreKeyPart(
                        initiatorSigningKey: profile.keys.signingPublic, initiatorAgreementKey: profile.keys.agreementPublic,
                        ephemeralKey: started.ephemeralPublicKey, signedPreKeyID: started.signedPreKeyID, oneTimePreKeyID: started.oneTimePreKeyID),
                        remoteEphemeral: nil)
                }
            }
            if let signedKey, let contact = try store.contact(peer), contact.signingKey != signedKey, !contact.verified {
                return .refused("\(peer)'s security key is not the one #\(group ?? "") was signed with; compare safety numbers (/verify \(peer)) "
                                + "and approve the key, or have an admin remove and add them again")
            }
            guard let envelope = try store.sealAndCommit(payload, for: peer, startingWith: fresh, into: target) else { return .later }
            return .sealed(envelope)
        } catch let error as E2EError {
            return .refused("cannot encrypt for \(peer): \(error.description)")
        } catch let error as ClientStore.KeyChangeUnapproved {
            return .refused(error.description)
        } catch {
            logger.error("could not encrypt", metadata: ["error": "\(error)"])
            return .later
        }
    }

    /// Asks the relay for `peer`'s bundle and waits (at most 10 s) for the answer.
    private func requestBundle(for peer: String, on link: any RelayLink) async -> BundleResult {
        let waiter = Waiter<BundleResult>(cancelled: .unavailable)
        bundleWaiters[peer, default: []].append(waiter)
        await link.send(ClientFrame.getKeys(.init(name: peer, bundle: true)).encoded())
        return await answer(waiter, otherwise: .unavailable)
    }

    /// The relay's answer to a request, or `otherwise` after 10 s on the engine's clock.
    func answer<T: Sendable>(_ waiter: Waiter<T>, otherwise: T) async -> T {
        let timeout = Task { [clock] in
            try? await clock.sleep(for: .seconds(10))
            waiter.resume(otherwise)
        }
        defer { timeout.cancel() }
        return await waiter.wait()
    }

    /// The relay answers a connection's key requests in the order they were sent, so an answer
    /// belongs to the oldest request for that name: a lookup (`/new`, no prekeys) and a
    /// bundle request for sealing may be out at once, and each must get its own answer.
    /// (A request that timed out keeps its place, so a late answer is still matched to it.)
    func bundleArrived(_ result: BundleResult, for peer: String) {
        guard var waiters = bundleWaiters[peer], !waiters.isEmpty else { return }
        let oldest = waiters.removeFirst()
        bundleWaiters[peer] = waiters.isEmpty ? nil : waiters
        oldest.resume(result)
    }

    /// The link is gone: nobody will answer the outstanding bundle requests.
    func failBundleRequests() {
        let all = bundleWaiters
        bundleWaiters = [:]
        for waiter in all.values.joined() { waiter.resume(.unavailable) }
    }

    /// The 60-digit safety number for `name`, from the pinned keys (nil before any exchange).
    public func safetyNumber(with name: String) throws -> String? {
        guard let contact = try store.contact(name) else { return nil }
        return SafetyNumber.compute(localName: profile.name, localSigning: profile.keys.signingPublic, localAgreement: profile.keys.agreementPublic,
                                    remoteName: name, remoteSigning: contact.signingKey, remoteAgreement: contact.agreementKey)
    }

    public func contact(_ name: String) throws -> ClientStore.Contact? { try store.contact(name) }

    public func verifiedContacts() throws -> Set<String> { try store.verifiedContacts() }

    /// Marks `name` verified after the user compared safety numbers; false if there is nothing
    /// pinned yet. Approving a key also sends what they asked for again under it.
    public func markVerified(_ name: String, _ verified: Bool = true) throws -> Bool {
        guard verified else { return try store.setVerified(name, false) }
        let (marked, released) = try store.approve(name, me: profile.name)
        if released > 0 { Task { await self.flushOutbox() } }
        return marked
    }
}

/// Whether a name is someone on the relay, for opening a chat with them.
public enum UserLookup: Sendable, Equatable {
    case exists
    case unknown
    /// Not connected, or the relay did not answer: nobody can say.
    case unreachable
}

extension ParlaClient {
    /// Asks the relay whether `name` is a registered user (without using up one of their
    /// one-time prekeys). Known contacts and existing chats need no question.
    public func lookUpUser(_ name: String) async -> UserLookup {
        if (try? store.contact(name)) != nil || ((try? store.chats()) ?? []).contains(where: { $0.name == name }) { return .exists }
        guard connectionState == .online, let link else { return .unreachable }
        let waiter = Waiter<BundleResult>(cancelled: .unavailable)
        bundleWaiters[name, default: []].append(waiter)
        await link.send(ClientFrame.getKeys(.init(name: name, bundle: false)).encoded())
        switch await answer(waiter, otherwise: .unavailable) {
        case .keys: return .exists
        case .unknownUser: return .unknown
        case .unavailable: return .unreachable
        }
    }
}
