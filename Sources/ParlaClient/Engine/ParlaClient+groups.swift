import Foundation
import ParlaProtocol

/// Groups in the engine: membership requests (answered by the relay), group messages
/// sealed once per member over the pairwise sessions, and the retry when the members
/// changed under a message on its way.
extension ParlaClient {
    enum GroupSeal {
        case sealed(String)
        case refused(String)
        case later
    }

    /// Creates `#name` with `members` (and us, as admin). Needs the relay.
    public func createGroup(_ name: String, title: String, members: [String]) async throws(EngineError) {
        try await groupRequest { id in .groupCreate(.init(id: id, group: name, title: title, members: members)) }
        _ = try? await fetchGroup(name)
    }

    /// add / remove / promote / demote (`members`), rename (`title`), leave. Needs the relay.
    public func updateGroup(_ name: String, _ action: GroupAction, members: [String] = [], title: String? = nil) async throws(EngineError) {
        try await groupRequest { id in .groupUpdate(.init(id: id, group: name, action: action, members: members, title: title)) }
        // The local view follows at once (the event confirming it comes through the mailbox too).
        if action == .leave {
            try? store.markLeft(name, me: profile.name)
        } else {
            _ = try? await fetchGroup(name)
        }
    }

    /// The group as the relay has it now (also stored locally); nil when it does not exist or we are not in it.
    public func fetchGroup(_ name: String) async throws(EngineError) -> ClientStore.GroupState? {
        guard connectionState == .online, let link else { throw EngineError.offline }
        let waiter = Waiter<RelayFrame.GroupInfo?>(cancelled: nil)
        groupInfoWaiters[name, default: []].append(waiter)
        await link.send(ClientFrame.groupInfo(group: name).encoded())
        guard let info = await answer(waiter, otherwise: nil) else { return nil }
        return ClientStore.GroupState(name: info.group, title: info.title, members: info.members, admins: info.admins, isMember: true)
    }

    public func group(_ name: String) throws -> ClientStore.GroupState? { try store.group(name) }

    public func groups() throws -> [ClientStore.GroupState] { try store.groups() }

    /// Who has received and read one of our group messages.
    public func memberReceipts(messageID: String) throws -> [ClientStore.MemberReceipt] { try store.memberReceipts(messageID: messageID) }

    private func groupRequest(_ frame: (String) -> ClientFrame) async throws(EngineError) {
        guard connectionState == .online, let link else { throw EngineError.offline }
        let id = "grp-" + UUID().uuidString.lowercased()
        let waiter = Waiter<Result<Void, EngineError>>(cancelled: .failure(.offline))
        groupRequestWaiters[id] = waiter
        await link.send(frame(id).encoded())
        let result = await answer(waiter, otherwise: .failure(.offline))
        groupRequestWaiters[id] = nil
        try result.get()
    }

    func groupInfoArrived(_ info: RelayFrame.GroupInfo) {
        do {
            try store.updateGroup(info, me: profile.name)
        } catch {
            logger.error("could not store group info", metadata: ["error": "\(error)"])
        }
        for waiter in groupInfoWaiters.removeValue(forKey: info.group) ?? [] { waiter.resume(info) }
    }

    /// The link is gone: nobody will answer the outstanding group requests.
    func failGroupRequests() {
        let requests = groupRequestWaiters
        groupRequestWaiters = [:]
        for waiter in requests.values { waiter.resume(.failure(.offline)) }
        let infos = groupInfoWaiters
        groupInfoWaiters = [:]
        for waiter in infos.values.joined() { waiter.resume(nil) }
    }

    /// A copy for each current member (sealing only those not sealed before, so a retry after
    /// a membership change does not step anyone's ratchet twice), as one `groupSend` frame.
    func sealGroup(_ item: ClientStore.OutboxItem, on link: any RelayLink) async -> GroupSeal {
        guard let name = ClientStore.groupName(ofChat: item.recipient) else { return .refused("'\(item.recipient)' is not a group") }
        do {
            guard let group = try store.group(name) else { return .refused("no group #\(name)") }
            guard group.isMember else { return .refused("you are no longer a member of #\(name)") }
            let members = group.members.filter { $0 != profile.name }
            guard !members.isEmpty else { return .refused("#\(name) has no other members") }
            try store.retarget(outboxID: item.id, to: members)
            var copies = try store.groupCopies(outboxID: item.id)
            for member in members where copies[member] == nil {
                switch await sealPayload(item.payload, for: member, on: link, storing: .groupCopy(outboxID: item.id, member: member)) {
                case .sealed(let envelope):
                    copies[member] = envelope
                case .refused(let reason):
                    return .refused(reason)
                case .later:
                    return .later
                }
            }
            let frame = ClientFrame.groupSend(.init(id: item.id, group: name, copies: members.map { .init(to: $0, body: copies[$0]!) }))
            return .sealed(frame.encoded())
        } catch {
            logger.error("could not encrypt a group message", metadata: ["error": "\(error)"])
            return .later
        }
    }

    /// The relay refused a group message because the members changed: go again with the new list.
    func membershipChanged(outboxID: String) {
        logger.info("group members changed under a message; sealing again", metadata: ["id": "\(outboxID)"])
        Task { await self.flushOutbox() }
    }
}
