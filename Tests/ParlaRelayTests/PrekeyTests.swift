import Foundation
import ParlaCrypto
import ParlaProtocol
import ParlaRelay
import ParlaRelayTesting
import Testing

/// The relay as a key directory for end-to-end encryption: it checks signed prekeys
/// against the identity key, keeps one-time prekeys and hands each out once.
extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

@Suite struct PrekeyTests {
    func upload(_ user: TestUser, signed: SignedPreKey?, oneTime: [OneTimePreKey], on client: RelayTestClient) {
        client.send(.putPrekeys(.init(signedPreKeyId: signed?.id, signedPreKey: signed?.keyPair.publicKey, signedPreKeySignature: signed?.signature,
                                      oneTimePreKeyIds: oneTime.map(\.id), oneTimePreKeys: oneTime.map(\.keyPair.publicKey))))
    }

    @Test(arguments: StoreKind.allCases) func bundlesHandEachOneTimePrekeyOutOnceAndVerify(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let alice = try await TestUser.register("alice", on: relay)
        let bob = try await TestUser.register("bob", on: relay)
        let b = try await bob.connectIdle()
        b.send(.putPrekeys(.init()))
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 0, signedPreKeyId: nil)), "an empty frame asks how many are left")
        let signed = SignedPreKey(id: 3, identity: bob.keys)
        let oneTime = (1...3).map { OneTimePreKey(id: UInt32($0)) }
        upload(bob, signed: signed, oneTime: oneTime, on: b)
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 3, signedPreKeyId: 3)))

        // Each requester takes one of bob's one-time prekeys an hour: alice's repeats come without.
        var handedOut: [UInt32] = []
        var clients: [RelayTestClient] = []
        for (index, requester) in ([alice] + (try await ["carol", "dave", "erin"].asyncMap { try await TestUser.register($0, on: relay) })).enumerated() {
            let client = try await requester.connectIdle()
            clients.append(client)
            for _ in 0..<(index == 0 ? 3 : 1) {
                client.send(.getKeys(.init(name: "bob", bundle: true)))
                guard case .keys(let keys) = try await client.next() else { Issue.record("expected keys"); return }
                let bundle = PreKeyBundle(identitySigningKey: keys.signingKey, identityAgreementKey: keys.agreementKey,
                                          signedPreKeyID: try #require(keys.signedPreKeyId), signedPreKey: try #require(keys.signedPreKey),
                                          signedPreKeySignature: try #require(keys.signedPreKeySignature),
                                          oneTimePreKeyID: keys.oneTimePreKeyId, oneTimePreKey: keys.oneTimePreKey)
                try bundle.verify()
                if let id = keys.oneTimePreKeyId { handedOut.append(id) }
            }
        }
        #expect(handedOut == [1, 2, 3], "each one-time prekey once, one per requester; erin's bundle has none")
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 0, signedPreKeyId: 3)), "bob, online, hears he ran out")
        let a = clients[0]
        // Plain key lookups do not use up prekeys.
        upload(bob, signed: nil, oneTime: [OneTimePreKey(id: 9)], on: b)
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 1, signedPreKeyId: 3)))
        a.send(.getKeys(.init(name: "bob")))
        guard case .keys(let plain) = try await a.next() else { Issue.record("expected keys"); return }
        #expect(plain.oneTimePreKey == nil && plain.signedPreKey == nil)
        b.send(.putPrekeys(.init()))
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 1, signedPreKeyId: 3)))
        for client in clients { await client.close() }
        await b.close()
    }

    @Test(arguments: StoreKind.allCases) func aSignedPrekeyNotSignedByTheIdentityIsRefused(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let bob = try await TestUser.register("bob", on: relay)
        let b = try await bob.connectIdle()
        let forged = SignedPreKey(id: 1, identity: IdentityKeys())
        upload(bob, signed: forged, oneTime: [], on: b)
        let error = try await b.expectError(.badSignature)
        #expect(error.ref == "signedPreKey")
        b.send(.putPrekeys(.init(signedPreKeyId: 1, signedPreKey: Data(count: 31), signedPreKeySignature: Data(count: 64))))
        _ = try await b.expectError(.invalidKey)
        b.send(.putPrekeys(.init(oneTimePreKeyIds: [1, 1], oneTimePreKeys: [Data(count: 32), Data(count: 32)])))
        _ = try await b.expectError(.badFrame)
        b.sendRaw(#"{"type":"putPrekeys","oneTimePreKeyIds":[1],"oneTimePreKeys":[]}"#)
        _ = try await b.expectError(.badFrame)
        b.sendRaw(#"{"type":"putPrekeys","oneTimePreKeyIds":[-1],"oneTimePreKeys":["AAAA"]}"#)
        _ = try await b.expectError(.badFrame)
        b.send(.putPrekeys(.init()))
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 0, signedPreKeyId: nil)), "nothing was stored")
        await b.close()
    }

    @Test func theStoreCapsOneTimePrekeysAndSurvivesARestart() async throws {
        let directory = makeTemporaryDirectory(prefix: "parla-prekeys")
        let relay = try await TestRelay.start(dataDirectory: directory) { $0.maxOneTimePrekeys = 150 }
        let bob = try await TestUser.register("bob", on: relay)
        var b = try await bob.connectIdle()
        upload(bob, signed: SignedPreKey(id: 1, identity: bob.keys), oneTime: (0..<200).map { OneTimePreKey(id: UInt32($0)) }, on: b)
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 150, signedPreKeyId: 1)))
        await b.close()
        await relay.stop()
        let restarted = try await TestRelay.start(dataDirectory: directory)
        defer { Task { await restarted.stop() } }
        b = try await TestUser(name: bob.name, keys: bob.keys, relay: restarted).connectIdle()
        b.send(.putPrekeys(.init()))
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 150, signedPreKeyId: 1)))
        await b.close()
    }

    /// One account cannot empty everyone's supply: 100 one-time prekeys an hour in all, and an
    /// online owner is told when a fetch takes them below the top-up mark, not only at login.
    @Test(arguments: StoreKind.allCases) func aRequesterTakesAtMostItsShareAndOwnersTopUpAtOnce(store: StoreKind) async throws {
        let relay = try await store.startRelay()
        defer { Task { await relay.stop() } }
        let bob = try await TestUser.register("bob", on: relay)
        let b = try await bob.connectIdle()
        upload(bob, signed: SignedPreKey(id: 1, identity: bob.keys), oneTime: (1...21).map { OneTimePreKey(id: UInt32($0)) }, on: b)
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: 21, signedPreKeyId: 1)))
        for n in 1...2 {
            let user = try await TestUser.register("user\(n)", on: relay)
            let client = try await user.connectIdle()
            client.send(.getKeys(.init(name: "bob", bundle: true)))
            guard case .keys(let keys) = try await client.next() else { Issue.record("expected keys"); return }
            #expect(keys.oneTimePreKeyId == UInt32(n))
            await client.close()
        }
        #expect(try await b.next() == .prekeys(.init(oneTimePreKeysLeft: ProtocolLimits.prekeyLowWater - 1, signedPreKeyId: 1)),
                "the fetch that took bob below 20 tells him")
        await b.close()
    }
}
