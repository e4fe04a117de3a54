import Foundation
import ParlaCrypto
import ParlaProtocol

extension ParlaClient {
    /// Creates keys, registers `name` on the relay and, only if that succeeds,
    /// writes the profile. A failure leaves nothing behind.
    public static func register(name: String, server: String, invite: String?, directory: String,
                                transport: any RelayTransport, clock: any ClientClock = SystemClock()) async throws -> Profile {
        guard !Profile.exists(at: directory) else { throw ProfileError.alreadyExists(directory) }
        guard Validation.isValidName(name) else {
            throw EngineError.relayRefused(code: ErrorCode.invalidName.rawValue, message: "'\(name)' is not a valid name: use 3-32 characters of a-z 0-9 _ . -")
        }
        // "ws://host:port" is what people type; the profile keeps the full address.
        let server = try RelayURL.normalized(server)
        let keys = IdentityKeys()
        let link = try await transport.connect(to: server)
        let relayIdentity: String
        do {
            guard let text = await link.receive(), case .challenge(let challenge) = try RelayFrame.decode(text) else {
                throw EngineError.protocolViolation("expected a challenge from \(server)")
            }
            let timestamp = Int64(clock.now().timeIntervalSince1970 * 1000)
            let statement = AuthStatement(action: .register, relay: challenge.relay, nonce: challenge.nonce, name: name, timestamp: timestamp,
                                          signingKey: keys.signingPublic, agreementKey: keys.agreementPublic, invite: invite)
            await link.send(ClientFrame.register(.init(name: name, signingKey: keys.signingPublic, agreementKey: keys.agreementPublic,
                                                       timestamp: timestamp, signature: statement.signed(with: keys), invite: invite)).encoded())
            guard let reply = await link.receive() else { throw TransportError.unreachable("the relay closed the connection during registration") }
            switch try RelayFrame.decode(reply) {
            case .welcome: relayIdentity = challenge.relay
            case .error(let error): throw EngineError.relayRefused(code: error.code.rawValue, message: error.message)
            default: throw EngineError.protocolViolation("expected welcome")
            }
        } catch {
            await link.close()
            throw error
        }
        let profile: Profile
        do {
            try Profile.save(name: name, server: server, relayIdentity: relayIdentity, keys: keys, in: directory)
            profile = try Profile.load(from: directory)
            let store = try ClientStore(path: profile.databasePath)
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
