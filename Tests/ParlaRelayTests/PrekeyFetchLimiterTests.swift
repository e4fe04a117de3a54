@testable import ParlaRelay
import Testing

/// The per-requester share of one-time prekeys, with time injected.
@Suite struct PrekeyFetchLimiterTests {
    @Test func onePerOwnerAnHourAndAHundredInAll() {
        let limiter = PrekeyFetchLimiter()
        let hour = PrekeyFetchLimiter.window
        #expect(limiter.mayTake(requester: "mallory", from: "bob", now: 0))
        #expect(!limiter.mayTake(requester: "mallory", from: "bob", now: hour - 1))
        #expect(limiter.mayTake(requester: "alice", from: "bob", now: 10), "another requester has its own share")
        for n in 1..<100 { #expect(limiter.mayTake(requester: "mallory", from: "user\(n)", now: Int64(n))) }
        #expect(!limiter.mayTake(requester: "mallory", from: "user100", now: 200), "a hundred an hour in all")
        #expect(limiter.mayTake(requester: "mallory", from: "user100", now: hour + 1), "a new hour")
        #expect(limiter.mayTake(requester: "mallory", from: "bob", now: hour + 2), "bob's again after an hour")
    }
}
