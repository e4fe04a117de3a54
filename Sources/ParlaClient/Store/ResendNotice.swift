import Foundation

/// The chat line that tells a sender their messages were sent again over a new session.
/// Its id carries the running count, so later requests can update the line they follow.
struct ResendNotice: Equatable {
    private static let prefix = "notice-resend-"
    var count: Int
    var id: String

    init(count: Int) {
        self.count = count
        id = Self.prefix + "\(count)-" + UUID().uuidString.lowercased()
    }

    /// Recognises a stored notice's id; nil for every other message.
    init?(id: String) {
        guard id.hasPrefix(Self.prefix), let count = Int(id.dropFirst(Self.prefix.count).prefix { $0.isNumber }), count > 0 else { return nil }
        self.count = count
        self.id = id
    }

    func text(peer: String) -> String {
        let what = count == 1 ? "1 of your messages" : "\(count) of your messages"
        return "\(peer)'s Parla could not decrypt \(what) (it lost its session, perhaps after a reinstall); "
            + "a new secure session was set up and \(count == 1 ? "it was" : "they were") sent again."
    }
}
