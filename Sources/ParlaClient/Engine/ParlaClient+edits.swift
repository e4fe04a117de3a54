import Foundation

/// Changing what was sent: edits and deletions (issue 22).
extension ParlaClient {
    /// Replaces the text of our message `id` in `chat` on every side.
    @discardableResult
    public func edit(_ id: String, in chat: String, to text: String) throws -> MessageRecord {
        guard !text.isEmpty else { throw EngineError.emptyMessage }
        guard !text.utf8.contains(0) else { throw EngineError.nulCharacter }
        let groupName = ClientStore.groupName(ofChat: chat)
        let size = MessageContent.edit(of: id, text: text, group: groupName).encoded.count
        guard size <= Self.maxPlaintextBytes else { throw EngineError.messageTooLong(size) }
        let edited = try storing {
            let message = try ownMessage(id, in: chat)
            return try store.enqueueEdit(of: message, text: text, me: profile.name, group: try memberGroup(ofChat: chat), at: clock.now())
        }
        eventSink.yield(.messageUpdated(edited))
        Task { await self.flushOutbox() }
        return edited
    }

    /// Deletes message `id` of `chat` from this history, or (ours only) for everyone.
    @discardableResult
    public func delete(_ id: String, in chat: String, for deletion: MessageDeletion) throws -> MessageRecord {
        let deleted = try storing {
            let message: MessageRecord
            if deletion == .everyone {
                message = try ownMessage(id, in: chat)
            } else {
                guard let found = try store.message(inChat: chat, id: id), found.deleted != .me else { throw EngineError.unknownMessage(id) }
                message = found
            }
            let group = deletion == .everyone ? try memberGroup(ofChat: chat) : nil
            return try store.delete(message, for: deletion, me: profile.name, group: group)
        }
        eventSink.yield(.messageUpdated(deleted))
        if deletion == .everyone { Task { await self.flushOutbox() } }
        return deleted
    }

    /// Our own message `id` of `chat` that can still be changed.
    private func ownMessage(_ id: String, in chat: String) throws -> MessageRecord {
        guard let message = try store.message(inChat: chat, id: id), message.deleted != .me else { throw EngineError.unknownMessage(id) }
        guard message.isOutgoing, message.from == profile.name else { throw EngineError.notYourMessage(id) }
        guard message.deleted == nil else { throw EngineError.messageDeleted(id) }
        return message
    }

    /// The group `chat` names, which we must still be in to send to it (nil for a direct chat).
    func memberGroup(ofChat chat: String) throws -> ClientStore.GroupState? {
        try ClientStore.groupName(ofChat: chat).map { name throws -> ClientStore.GroupState in
            guard let group = try store.group(name), group.isMember else { throw EngineError.notGroupMember(name) }
            return group
        }
    }

    /// Runs a store change, reporting a database failure as the engine's storage error.
    func storing<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError.storage("\(error)")
        }
    }
}
