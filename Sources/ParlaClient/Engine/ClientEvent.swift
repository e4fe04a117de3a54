import Foundation

/// What the engine tells its UI. Delivered in order on `ParlaClient.events`.
public enum ClientEvent: Sendable, Equatable {
    case connection(ConnectionState)
    case messageAdded(MessageRecord)
    case messageUpdated(MessageRecord)
    /// The relay has handed over everything that was waiting.
    case synced
    case typing(from: String)
    case presence(user: String, online: Bool, lastSeen: Date?)
    /// Something the user should know about that is not tied to one message.
    case notice(String)
    /// A file moved on: so many of its bytes are up (or down).
    case transfer(TransferProgress)
}

/// Errors the engine reports to callers, with messages a user can act on.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidRecipient(String)
    case emptyMessage
    case messageTooLong(Int)
    /// `--reply-to` names no message of that chat.
    case unknownMessage(String)
    case invalidReaction(String)
    /// Only a message's author can edit it or delete it for everyone.
    case notYourMessage(String)
    case messageDeleted(String)
    case invalidTimer(String)
    /// A file that cannot be sent or saved, and why.
    case fileProblem(String)
    case nulCharacter
    case unknownGroup(String)
    case notGroupMember(String)
    case offline
    case relayRefused(code: String, message: String)
    case relayIdentityChanged(expected: String, got: String)
    /// The relay did not prove it holds the key pinned at `init`: an impostor, or a relay reset.
    case relayUnproven(String)
    case protocolViolation(String)
    case storage(String)
    /// A group change this client will not sign (not allowed, or a member's key is unknown).
    case groupChangeRefused(String)

    public var description: String {
        switch self {
        case .invalidRecipient(let name): "'\(name)' is not a valid user name (3-32 of a-z 0-9 _ . -)"
        case .emptyMessage: "the message is empty"
        case .unknownMessage(let id): "no message with id \(id) in that chat"
        case .notYourMessage(let id): "message \(id) is not yours: only its author can edit it or delete it for everyone (delete it here with 'parla delete \(id)')"
        case .messageDeleted(let id): "message \(id) was deleted"
        case .fileProblem(let why): why
        case .invalidTimer(let what): "'\(what)' is not a timer: \(DisappearingTimer.usage)"
        case .invalidReaction(let emoji): "'\(emoji)' is not a reaction: one emoji (at most \(ClientStore.maxReactionBytes) bytes), or empty to take it back"
        case .messageTooLong(let bytes):
            "the message is \(bytes) bytes once encoded; the limit is \(ParlaClient.maxPlaintextBytes) (the relay takes 64 KiB, and encryption pads to the next power of two)"
        case .nulCharacter: "the message contains a NUL character (U+0000), which cannot be sent"
        case .unknownGroup(let name): "no group #\(name) here (create it with 'parla group create \(name) MEMBER...', or wait until you are added)"
        case .notGroupMember(let name): "you are no longer a member of #\(name)"
        case .offline: "not connected to the relay; try again when online"
        case .relayRefused(let code, let message): "the relay refused: \(message) (\(code))"
        case .relayIdentityChanged(let expected, let got):
            "the relay presented identity \(got), but this profile registered with \(expected); refusing to log in (was the relay reset, or is this the wrong server?)"
        case .relayUnproven(let why):
            "the relay could not prove it is the one this profile registered with (\(why)); refusing to log in (is this the wrong server, or was the relay reset?)"
        case .protocolViolation(let what): "unexpected answer from the relay: \(what)"
        case .storage(let what): "local database error: \(what)"
        case .groupChangeRefused(let why): why
        }
    }
}
