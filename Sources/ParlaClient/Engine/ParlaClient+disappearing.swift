import Foundation
import ParlaProtocol

/// Disappearing messages: the chat timer, and the sweep that removes messages whose time is
/// up, on the engine's clock (so tests move time instead of waiting for it).
extension ParlaClient {
    /// Sets how long new messages of `chat` last (nil: off), here and for the other side.
    @discardableResult
    public func setTimer(_ seconds: Int?, forChat chat: String) throws -> MessageRecord {
        if let seconds, !(DisappearingTimer.shortest...DisappearingTimer.longest).contains(seconds) {
            throw EngineError.invalidTimer(DisappearingTimer.describe(seconds))
        }
        let notice = try storing {
            if ClientStore.groupName(ofChat: chat) == nil {
                guard Validation.isValidName(chat) else { throw EngineError.invalidRecipient(chat) }
            }
            return try store.enqueueTimer(seconds, chat: chat, me: profile.name, group: try memberGroup(ofChat: chat), at: clock.now())
        }
        eventSink.yield(.messageAdded(notice))
        Task { await self.flushOutbox() }
        return notice
    }

    /// Removes what is due now; commands call it before showing history.
    public func removeExpiredMessages() {
        // A millisecond early at most: the wait below is rounded to whole milliseconds, and a
        // clock that reaches the expiry must find it due, not a rounding error short of it.
        guard let gone = try? store.removeExpired(at: clock.now().addingTimeInterval(0.001)) else { return }
        for record in gone { eventSink.yield(.messageUpdated(record)) }
    }

    /// A message that will disappear was stored: the sweep may have to wake sooner.
    func expiryScheduled() {
        expirySleep?.cancel()
    }

    /// Runs for the engine's lifetime: removes due messages, then sleeps until the next is due
    /// (on the engine's clock), or, with none due, until one is stored.
    func sweepExpiredMessages() async {
        while !Task.isCancelled {
            removeExpiredMessages()
            let clock = self.clock
            let sleep: Task<Void, Never>
            if let next = (try? store.nextExpiry()).flatMap({ $0 }) {
                // Measured from the clock's now in the task that sleeps: time that passes before
                // it starts is not added to the wait.
                sleep = Task {
                    let wait = max(next.timeIntervalSince(clock.now()), 0.001)
                    _ = try? await clock.sleep(for: .milliseconds(Int64((wait * 1000).rounded())))
                }
            } else {
                // Nothing will disappear: only a newly stored message ends this wait.
                sleep = Task { _ = try? await Task.sleep(for: .seconds(86_400)) }
            }
            expirySleep = sleep
            await withTaskCancellationHandler {
                await sleep.value
            } onCancel: {
                sleep.cancel()
            }
            expirySleep = nil
        }
    }
}
