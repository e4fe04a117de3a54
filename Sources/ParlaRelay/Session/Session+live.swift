import Foundation
import ParlaProtocol

/// Live delivery (see `LiveMessage`): messages pass between two online connections without
/// touching the store unless a confirmation is late, and the sender's `ack` says delivered.
extension Session {
    /// The recipient's side of a live hand-over: sent at once when nothing stored is waiting
    /// and the window has room, queued behind them otherwise; false if the sender must store
    /// it. Whatever this connection held live is stored before it answers false (a closing
    /// connection stored it on closing), so the sender's stored message comes after them.
    func offerLive(_ message: LiveMessage) -> Bool {
        guard user != nil, !isClosed else { return false }
        if var held = live[message.id], held.sender == message.sender {
            // A resend of a message still held: its acknowledgement waits with the first.
            held.waiters += message.waiters
            live[message.id] = held
            return true
        }
        // Bounded memory (count and bytes): a recipient that confirms nothing gets its messages stored, in order.
        guard live[message.id] == nil, inflight[message.id] == nil, live.count < 4 * deps.configuration.deliveryWindow,
              liveBytes + message.body.count <= deps.configuration.liveBytesLimit else {
            spillAllLive(stillConnected: true)
            return false
        }
        var message = message
        liveCount += 1
        message.order = liveCount
        live[message.id] = message
        liveBytes += message.body.count
        liveQueue.append(message.id)
        sendQueuedLive()
        scheduleSweep()
        return true
    }

    /// Live messages on the wire and not yet confirmed (they count against the window).
    var liveSent: Int { live.count - liveQueue.count }

    /// Sends queued live messages while the window has room and nothing stored comes first.
    func sendQueuedLive() {
        var sentCount = 0
        while sentCount < liveQueue.count, backlogDrained, !pumping, spillsPending == 0, !isClosed,
              inflight.count + liveSent + sentCount < deps.configuration.deliveryWindow {
            let id = liveQueue[sentCount]
            sentCount += 1
            // In place: a message is copied nowhere on its way out.
            guard let index = live.index(forKey: id) else { continue }
            live.values[index].sent = true
            emit(Self.frame(for: live.values[index].item))
        }
        liveQueue.removeFirst(sentCount)
    }

    /// The recipient confirmed live messages: their senders are acknowledged (the recipient's
    /// client has committed them) with `delivered`, in place of a receipt. A sender that misses
    /// the `ack` sends the message again and is answered the same (the store remembers the
    /// delivery), so nothing needs storing here but the idempotency keys.
    func settleLive(_ messages: [LiveMessage]) {
        guard let user else { return }
        let at = now
        deps.store.recordLiveDeliveries(messages.map {
            LiveDeliveryRecord(sender: $0.sender, id: $0.id, recipient: user, expiresAt: $0.expiresAt, acceptedKey: $0.acceptedKey, deliveredAt: at)
        })
        for message in messages {
            for waiter in message.waiters { waiter.resolve(.success(.delivered(at: at))) }
        }
        deps.metrics.messagesDelivered.increment(by: Int64(messages.count))
        deps.metrics.messagesLive.increment(by: Int64(messages.count))
    }

    func scheduleSweep() {
        guard !sweepScheduled else { return }
        sweepScheduled = true
        Task { await self.sweepLive() }
    }

    /// Stores what waits too long for its confirmation, then sleeps until the next deadline;
    /// ends when nothing is held. "Too long" is the hold time with nothing at all heard from
    /// this connection in the meantime (it is gone or stuck); a connection whose frames keep
    /// coming is only behind (its confirmations queue behind them), and its items wait up to
    /// `liveHoldLimit` before being stored.
    private func sweepLive() async {
        let hold = deps.configuration.liveHold
        let limit = max(hold, deps.configuration.liveHoldLimit)
        while !isClosed {
            let oldest = live.values.map(\.heldSince).min()
            guard let oldest else { break }
            let now = ContinuousClock.now
            let deadline = min(max(oldest, lastHeardAt) + hold, oldest + limit)
            if deadline > now {
                try? await Task.sleep(until: deadline, clock: .continuous)
                continue
            }
            let due = lastHeardAt + hold <= now ? now - hold : now - limit
            if live.values.contains(where: { !$0.sent && $0.heldSince <= due }) {
                // A late queued message is stored with everything queued behind it, so none overtakes it.
                spillAllLive(stillConnected: true)
            } else {
                let late = live.values.filter { $0.heldSince <= due }.sorted { $0.order < $1.order }
                for message in late {
                    live[message.id] = nil
                    liveBytes -= message.body.count
                }
                spill(late)
            }
        }
        sweepScheduled = false
    }

    /// Stores everything held live, in order: when the connection goes (delivered on the next
    /// login), or when the recipient must refuse an offer.
    func spillAllLive(stillConnected: Bool = false) {
        let messages = live.values.sorted { $0.order < $1.order }
        live = [:]
        liveBytes = 0
        liveQueue = []
        spill(messages, stillConnected: stillConnected)
    }

    /// Stores live messages whose confirmation did not come in time, in the order they were
    /// offered; their senders are acknowledged once stored. Those already sent on a connection
    /// that stays open stay in flight, so they are not sent twice and their confirmation
    /// deletes them; the others reach the recipient through the store like any message.
    private func spill(_ messages: [LiveMessage], stillConnected: Bool = true) {
        guard !messages.isEmpty else { return }
        guard let user else {
            // Never reached (only logged-in connections take live messages), but a sender must never wait forever.
            for waiter in messages.flatMap(\.waiters) { waiter.resolve(.failure(StoreError.notRun)) }
            return
        }
        let config = deps.configuration
        let pending = messages.map { message in
            if stillConnected, message.sent, inflight[message.id] == nil { inflight[message.id] = 0 }
            return (message.waiters, deps.store.enqueueAccept(id: message.id, from: message.sender, to: user, body: message.body, now: message.acceptedAt,
                                                              expiresAt: message.expiresAt, quota: config.quota))
        }
        deps.metrics.liveStored.increment(by: Int64(messages.count))
        spillsPending += 1
        backlogDrained = false
        Task {
            for (waiters, outcome) in pending {
                let result = await Result { try await outcome.value() }
                for waiter in waiters { waiter.resolve(result) }
            }
            await self.spillCommitted()
        }
    }

    private func spillCommitted() async {
        spillsPending -= 1
        await mailboxChanged()
    }

}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
