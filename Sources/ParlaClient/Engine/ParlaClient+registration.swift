import Foundation
import ParlaCrypto
import ParlaProtocol

extension ParlaClient {
    /// Creates keys, registers `name` on the relay and writes the profile. The keys are on
    /// disk (`identity.pending.json`, 0600) before the relay sees them: if the answer is lost
    /// (a dropped connection, a crash), the name may be registered to them, and running the
    /// same `init` again finishes with those keys (logging in) instead of losing the name.
    /// A refusal leaves nothing behind.
    /// Plain `ws://` to another machine is refused unless `allowInsecure`: the relay key pinned
    /// here is trusted from then on.
    /// The first node of `server` that answers, in the order listed.
    static func connectToAnyNode(of server: String, transport: any RelayTransport) async throws -> any RelayLink {
        var failure: (any Error)?
        for node in RelayURL.nodes(server) {
            do {
                return try await transport.connect(to: node)
            } catch {
                failure = error
            }
        }
        throw failure ?? TransportError.invalidURL(server)
    }

    public static func register(name: String, server: String, invite: String?, directory: String,
                                transport: any RelayTransport, clock: any ClientClock = SystemClock(),
                                allowInsecure: Bool = false) async throws -> Profile {
        guard !Profile.exists(at: directory) else { throw ProfileError.alreadyExists(directory) }
        guard Validation.isValidName(name) else {
            throw EngineError.relayRefused(code: ErrorCode.invalidName.rawValue, message: "'\(name)' is not a valid name: use 3-32 characters of a-z 0-9 _ . -")
        }
        // "ws://host:port" is what people type; the profile keeps the full address.
        let server = try RelayURL.normalizedList(server)
        try RelayURL.checkSafeForRegistration(server, allowInsecure: allowInsecure)
        let pending = Profile.pending(in: directory)
        let resuming = pending.flatMap { $0.name == name && $0.server == server ? $0 : nil }
        let createdDirectory = !FileManager.default.fileExists(atPath: directory)
        let keys = resuming?.keys ?? IdentityKeys()
        let link = try await connectToAnyNode(of: server, transport: transport)
        let relayIdentity: String
        let relayKey: Data?
        do {
            guard let text = await link.receive(), case .challenge(let challenge) = try RelayFrame.decode(text) else {
                throw EngineError.protocolViolation("expected a challenge from \(server)")
            }
            // A resumed registration must meet the relay it started with; a fresh one pins this one.
            let key = try RelayIdentityCheck.challenge(challenge, pinnedIdentity: resuming?.relayIdentity ?? "", pinnedKey: resuming?.relayKey)
            // From here the relay may bind the name to these keys: they must outlive this process.
            try Profile.save(name: name, server: server, relayIdentity: challenge.relay, relayKey: key, keys: keys, in: directory, pending: true)
            let timestamp = Int64(clock.now().timeIntervalSince1970 * 1000)
            if resuming != nil {
                // An earlier attempt's answer was lost: perhaps the name is ours already.
                let statement = AuthStatement(action: .login, relay: challenge.relay, nonce: challenge.nonce, name: name, timestamp: timestamp)
                await link.send(ClientFrame.login(.init(name: name, timestamp: timestamp, signature: statement.signed(with: keys))).encoded())
            } else {
                let statement = AuthStatement(action: .register, relay: challenge.relay, nonce: challenge.nonce, name: name, timestamp: timestamp,
                                              signingKey: keys.signingPublic, agreementKey: keys.agreementPublic, invite: invite)
                await link.send(ClientFrame.register(.init(name: name, signingKey: keys.signingPublic, agreementKey: keys.agreementPublic,
                                                           timestamp: timestamp, signature: statement.signed(with: keys), invite: invite)).encoded())
            }
            guard let reply = await link.receive() else {
                throw TransportError.unreachable("the relay closed the connection during registration; your keys are kept in \(directory): "
                    + "run the same 'parla init' again to finish")
            }
            switch try RelayFrame.decode(reply) {
            case .welcome(let welcome):
                try RelayIdentityCheck.welcome(welcome, challenge: challenge, name: name, clientTime: timestamp, key: key)
                relayIdentity = challenge.relay
                relayKey = key
            case .error(let error) where resuming != nil && error.code == .unknownUser:
                // The earlier attempt never reached the relay: start over, registering these keys.
                await link.close()
                try? FileManager.default.removeItem(atPath: Profile.pendingPath(in: directory))
                return try await register(name: name, server: server, invite: invite, directory: directory, transport: transport, clock: clock, allowInsecure: allowInsecure)
            case .error(let error):
                Profile.discardPending(in: directory, removingDirectory: createdDirectory)
                throw EngineError.relayRefused(code: error.code.rawValue, message: error.message)
            default:
                throw EngineError.protocolViolation("expected welcome")
            }
        } catch {
            await link.close()
            throw error
        }
        let profile: Profile
        do {
            try Profile.save(name: name, server: server, relayIdentity: relayIdentity, relayKey: relayKey, keys: keys, in: directory)
            try? FileManager.default.removeItem(atPath: Profile.pendingPath(in: directory))
            profile = try Profile.load(from: directory)
            let store = try ClientStore(path: profile.databasePath)
            try store.startSyncCursor()
            // Publish prekeys at once, so others can write to us before our first login.
            // Best effort: if this fails, the first login publishes them.
            await publishInitialPrekeys(keys: keys, store: store, link: link, clock: clock)
        } catch {
            await link.close()
            throw error
        }
        await link.close()
        return profile
    }

    private static func publishInitialPrekeys(keys: IdentityKeys, store: ClientStore, link: any RelayLink, clock: any ClientClock) async {
        do {
            let ids = try store.allocatePrekeyIDs(prekeyBatch + 1)
            let signed = SignedPreKey(id: ids.lowerBound, identity: keys, createdAt: clock.now())
            let oneTime = ids.dropFirst().map { OneTimePreKey(id: $0) }
            try store.saveOwnPrekeys(signed: signed, oneTime: oneTime)
            await link.send(ClientFrame.putPrekeys(.init(
                signedPreKeyId: signed.id, signedPreKey: signed.keyPair.publicKey, signedPreKeySignature: signed.signature,
                oneTimePreKeyIds: oneTime.map(\.id), oneTimePreKeys: oneTime.map(\.keyPair.publicKey))).encoded())
            // Wait (at most 5 s) for the relay to confirm; other frames, such as queueEmpty, may come first.
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for _ in 0..<8 {
                        guard let text = await link.receive(), let frame = try? RelayFrame.decode(text) else { return }
                        switch frame {
                        case .prekeys, .error: return
                        default: continue
                        }
                    }
                }
                group.addTask { try? await clock.sleep(for: .seconds(5)) }
                await group.next()
                group.cancelAll()
            }
        } catch {
            return
        }
    }
}
