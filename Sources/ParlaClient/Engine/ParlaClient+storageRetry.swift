import Foundation
import ParlaProtocol

/// Thrown for incoming messages held back behind group events that could not be written.
struct StorageRetryPending: Error {}

extension ParlaClient {
    static let storageRetryFirst: Duration = .milliseconds(500)
    static let storageRetryCap: Duration = .seconds(30)

    func storeGroupEvents(_ events: [RelayFrame.GroupEvent]) throws {
        // Membership first: a message in the same batch may belong to a group just created.
        let applied = try store.applyGroupEvents(events, me: profile.name, myKey: profile.keys.signingPublic)
        for notice in applied.notices { eventSink.yield(.messageAdded(notice)) }
        groupsChanged(applied.changed)
    }

    /// Committed before confirming: a crash here means redelivery, never loss.
    func storeIncoming(_ incoming: [ClientStore.EncryptedIncoming]) throws {
        let batch = try store.receiveEncrypted(incoming, me: profile.name, identity: profile.keys, at: clock.now())
        if batch.disappears { expiryScheduled() }
        if batch.filesArrived { Task { await self.runTransfers() } }
        for record in batch.added {
            eventSink.yield(.messageAdded(record))
            // A key change or a session reset is also said in the status line, not only in its chat.
            if record.from == ClientStore.systemSender { eventSink.yield(.notice(record.text)) }
        }
        for record in batch.updated { eventSink.yield(.messageUpdated(record)) }
        if batch.queuedControl { Task { await self.flushOutbox() } }
    }

    func recordAcks(_ acks: [(id: String, delivered: Bool)]) throws {
        for record in try store.acknowledged(acks, me: profile.name) {
            settled(record)
            eventSink.yield(.messageUpdated(record))
        }
    }

    /// The local database refused a write: say so once (a full disk as such), and try again
    /// on a backoff that doubles up to 30 s, on the engine's clock.
    func storageFailed(_ error: any Error) {
        if storageRetryDelay == .zero {
            let cause = StorageFault(error)?.describe(whose: "this computer's") ?? "the local database refused a write (\(error))"
            eventSink.yield(.notice("\(cause): received messages stay on the relay and sent ones wait to be marked; retrying"))
            storageRetryDelay = Self.storageRetryFirst
        } else {
            storageRetryDelay = min(storageRetryDelay * 2, Self.storageRetryCap)
        }
        guard !storageRetryScheduled else { return }
        storageRetryScheduled = true
        let (clock, delay) = (self.clock, storageRetryDelay)
        Task {
            try? await clock.sleep(for: delay)
            await self.retryStorage()
        }
    }

    /// Writes what was held back, confirms it on the current connection (if any: the relay
    /// redelivers what a lost one did not confirm) and sends again once acks can be written.
    func retryStorage() async {
        storageRetryScheduled = false
        var confirm: [String] = []
        do {
            if !unstoredGroupEvents.isEmpty {
                try storeGroupEvents(unstoredGroupEvents)
                confirm += unstoredGroupEvents.map(\.id)
                unstoredGroupEvents = []
            }
            if !unstoredIncoming.isEmpty {
                try storeIncoming(unstoredIncoming)
                confirm += unstoredIncoming.map(\.id)
                unstoredIncoming = []
            }
            if !unrecordedAcks.isEmpty {
                try recordAcks(unrecordedAcks)
                unrecordedAcks = []
            }
        } catch {
            logger.error("the local database still refuses writes", metadata: ["error": "\(error)"])
            if let link, !confirm.isEmpty { await send(confirm: confirm, on: link) }
            storageFailed(error)
            return
        }
        storageRetryDelay = .zero
        eventSink.yield(.notice("the local database takes writes again"))
        if let link, !confirm.isEmpty { await send(confirm: confirm, on: link) }
        notifyOutboxWaiters()
        await flushOutbox()
    }

    func send(confirm ids: [String], on link: any RelayLink) async {
        for chunk in stride(from: 0, to: ids.count, by: ProtocolLimits.maxIDsPerFrame) {
            await link.send(ClientFrame.confirm(.init(ids: Array(ids[chunk..<min(chunk + ProtocolLimits.maxIDsPerFrame, ids.count)]))).encoded())
        }
    }
}
