import Foundation

/// The keys others fetch to start an end-to-end session with a user.
public protocol PrekeyStore: Sendable {
    /// Replaces the user's signed prekey (if given) and adds one-time prekeys, keeping at most `limit`.
    func storePrekeys(user: String, signed: SignedPrekeyRecord?, oneTime: [OneTimePrekeyRecord], replacingOneTime: Bool, limit: Int, now: Int64) async throws -> PrekeyStatus
    /// The signed prekey, and one one-time prekey (deleted as it is taken) when `takingOneTime`.
    func takePrekeyBundle(user: String, takingOneTime: Bool) async throws -> PrekeyBundleRecord
}
