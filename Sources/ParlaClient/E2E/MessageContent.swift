import Foundation

/// What an encrypted envelope carries once decrypted and unpadded. A text is its UTF-8
/// bytes, exactly; anything else starts with a 0x00 byte (which no text may contain)
/// followed by a JSON object, so the relay cannot tell the two apart.
enum MessageContent: Equatable, Sendable {
    case text(String)
    /// "I could not decrypt these messages of yours; send them again" (sent over a new session).
    case resendRequest(ids: [String])
    /// A copy of an earlier message the recipient could not decrypt, under its original id.
    case resent(id: String, text: String)
    /// A message to a group: the group is named inside the encryption, so the relay cannot
    /// move a message into another conversation.
    case groupText(group: String, text: String, replyTo: String? = nil)
    /// A text answering the message `to` (an id in the same chat).
    case reply(to: String, text: String)
    /// The sender's reaction to message `to` (in the group, if named); an empty emoji takes it back.
    case reaction(to: String, emoji: String, group: String?)
    /// The sender's new text for their message `of` (in the group, if named).
    case edit(of: String, text: String, group: String?)
    /// The sender deleted their message `of` for everyone (in the group, if named).
    case delete(of: String, group: String?)
    /// The chat's disappearing-messages timer, in seconds (nil: off), set by the sender.
    case timer(seconds: Int?, group: String?)
    /// An attachment: where it is on the relay and the key that opens it (in the group, if named).
    case file(FileOffer, group: String?, replyTo: String?)

    /// The plaintext of a message the user writes: a text, a reply, or either in a group.
    static func written(_ text: String, group: String?, replyTo: String?) -> MessageContent {
        if let group { return .groupText(group: group, text: text, replyTo: replyTo) }
        return replyTo.map { .reply(to: $0, text: text) } ?? .text(text)
    }

    private struct Control: Codable {
        var type: String
        var ids: [String]?
        var id: String?
        var text: String?
        var group: String?
        var replyTo: String?
        var seconds: Int?
        var file: FileOffer?
    }

    var encoded: Data {
        let control: Control
        switch self {
        case .text(let text): return Data(text.utf8)
        case .resendRequest(let ids): control = Control(type: "resend-request", ids: ids)
        case .resent(let id, let text): control = Control(type: "resent", id: id, text: text)
        case .groupText(let group, let text, let replyTo): control = Control(type: "group", text: text, group: group, replyTo: replyTo)
        case .reply(let to, let text): control = Control(type: "reply", text: text, replyTo: to)
        case .reaction(let to, let emoji, let group): control = Control(type: "react", id: to, text: emoji, group: group)
        case .edit(let of, let text, let group): control = Control(type: "edit", id: of, text: text, group: group)
        case .delete(let of, let group): control = Control(type: "delete", id: of, group: group)
        case .timer(let seconds, let group): control = Control(type: "timer", group: group, seconds: seconds)
        case .file(let offer, let group, let replyTo): control = Control(type: "file", group: group, replyTo: replyTo, file: offer)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Data([0]) + ((try? encoder.encode(control)) ?? Data())
    }

    /// Decodes a plaintext; nil when it is a control message this version does not understand.
    init?(decoding data: Data) {
        guard data.first == 0 else {
            self = .text(String(decoding: data, as: UTF8.self))
            return
        }
        guard let control = try? JSONDecoder().decode(Control.self, from: data.dropFirst()) else { return nil }
        switch control.type {
        case "resend-request":
            guard let ids = control.ids, !ids.isEmpty else { return nil }
            self = .resendRequest(ids: ids)
        case "resent":
            guard let id = control.id, let text = control.text else { return nil }
            self = .resent(id: id, text: text)
        case "group":
            guard let group = control.group, let text = control.text else { return nil }
            self = .groupText(group: group, text: text, replyTo: control.replyTo)
        case "react":
            guard let to = control.id, let emoji = control.text else { return nil }
            self = .reaction(to: to, emoji: emoji, group: control.group)
        case "edit":
            guard let of = control.id, let text = control.text, !text.isEmpty else { return nil }
            self = .edit(of: of, text: text, group: control.group)
        case "delete":
            guard let of = control.id else { return nil }
            self = .delete(of: of, group: control.group)
        case "file":
            guard let offer = control.file, offer.isWellFormed else { return nil }
            self = .file(offer, group: control.group, replyTo: control.replyTo)
        case "timer":
            self = .timer(seconds: control.seconds, group: control.group)
        case "reply":
            guard let to = control.replyTo, let text = control.text else { return nil }
            self = .reply(to: to, text: text)
        default:
            return nil
        }
    }
}
