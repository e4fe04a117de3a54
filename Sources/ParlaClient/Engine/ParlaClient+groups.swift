import Foundation
import ParlaCrypto
import ParlaProtocol

/// Groups in the engine: membership requests (answered by the relay), group messages
/// sealed once per member over the pairwise sessions, and the retry when the members
/// changed under a message on its way.
extension ParlaClient {
    enum GroupSeal {
        case sealed(String)
        case refused(String)
        case later
        /// The relay's members differ from the signed ones: this message waits for a signed change.
        case held
    }

    /// Creates `#name` with `members` (and us, as admin), signing its first state. Needs the relay.
    public func createGroup(_ name: String, title: String, members: [String]) async throws(EngineError) {
        let keys = try await identityKeys(of: members)
        let change = try signedChange(GroupTransition.next(from: nil, group: name, action: .create, actor: profile.name, subjects: members,
                                                          title: title, newKeys: keys))
        try await groupRequest { id in .groupCreate(.init(id: id, group: name, title: title, members: members, change: change)) }
        try? store.applyOwnGroupChange(change, me: profile.name)
    }

    /// add / remove / promote / demote (`members`), rename (`title`), leave, signed by us over the
    /// state that follows from the one we hold. Needs the relay.
    public func updateGroup(_ name: String, _ action: GroupAction, members: [String] = [], title: String? = nil) async throws(EngineError) {
        guard let group = try? store.group(name), group.isMember else { throw EngineError.unknownGroup(name) }
        let previous = try await signedOrLegacyState(of: group)
        let keys = action == .add ? try await identityKeys(of: members.filter { !group.members.contains($0) }) : [:]
        let change = try signedChange(GroupTransition.next(from: previous, group: name, action: action, actor: profile.name, subjects: members,
                                                          title: title, newKeys: keys))
        try await groupRequest { id in .groupUpdate(.init(id: id, group: name, action: action, members: members, title: title, change: change)) }
        try? store.applyOwnGroupChange(change, me: profile.name)
    }

    private func signedChange(_ next: Result<GroupStatement, GroupChangeRejection>) throws(EngineError) -> SignedGroupChange {
        switch next {
        case .success(let statement): return SignedGroupChange.sign(statement, with: profile.keys)
        case .failure(let rejection): throw EngineError.groupChangeRefused(rejection.reason)
        }
    }

    /// The state our change follows: the signed one, or for a group set up by an older Parla
    /// its members as we know them, at the relay's count of changes, with their pinned keys.
    private func signedOrLegacyState(of group: ClientStore.GroupState) async throws(EngineError) -> GroupStatement {
        if let statement = group.statement { return statement }
        guard let info = try await requestGroupInfo(group.name) else { throw EngineError.unknownGroup(group.name) }
        var keys = try await identityKeys(of: group.members.filter { $0 != profile.name })
        keys[profile.name] = profile.keys.signingPublic
        return GroupStatement(group: group.name, version: info.version, action: .create, actor: group.admins.first ?? profile.name, subjects: [],
                              title: group.title, members: group.members.map { .init(name: $0, key: keys[$0] ?? Data()) }, admins: group.admins)
    }

    /// The identity keys to sign into a group for `names` (and us): pinned ones, else the relay's
    /// answer, pinned now, as a first message to them would.
    private func identityKeys(of names: [String]) async throws(EngineError) -> [String: Data] {
        var keys = [profile.name: profile.keys.signingPublic]
        for name in names where keys[name] == nil {
            if let contact = try? store.contact(name) {
                keys[name] = contact.signingKey
                continue
            }
            guard connectionState == .online, let link else { throw EngineError.offline }
            let waiter = Waiter<BundleResult>(cancelled: .unavailable)
            bundleWaiters[name, default: []].append(waiter)
            await link.send(ClientFrame.getKeys(.init(name: name, bundle: false)).encoded())
            switch await answer(waiter, otherwise: .unavailable) {
            case .keys(let found):
                if let notice = try? store.pin(name: name, signingKey: found.signingKey, agreementKey: found.agreementKey, me: profile.name) {
                    eventSink.yield(.messageAdded(notice))
                }
                keys[name] = found.signingKey
            case .unknownUser:
                throw EngineError.relayRefused(code: ErrorCode.unknownUser.rawValue, message: "no user named '\(name)' on this relay")
            case .unavailable:
                throw EngineError.offline
            }
        }
        return keys
    }

    /// The group as the relay has it now; nil when it does not exist or we are not in it. What the
    /// relay says changes nothing here unless it is a signed state we can check and had none of.
    public func fetchGroup(_ name: String) async throws(EngineError) -> ClientStore.GroupState? {
        guard let info = try await requestGroupInfo(name) else { return nil }
        return ClientStore.GroupState(name: info.group, title: info.title, members: info.members, admins: info.admins, isMember: true, change: info.change)
    }

    private func requestGroupInfo(_ name: String) async throws(EngineError) -> RelayFrame.GroupInfo? {
        guard connectionState == .online, let link else { throw EngineError.offline }
        let waiter = Waiter<RelayFrame.GroupInfo?>(cancelled: nil)
        groupInfoWaiters[name, default: []].append(waiter)
        await link.send(ClientFrame.groupInfo(group: name).encoded())
        return await answer(waiter, otherwise: nil)
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
            relayGroupViews[info.group] = try store.compareGroupInfo(info, me: profile.name, myKey: profile.keys.signingPublic)
        } catch {
            logger.error("could not check group info", metadata: ["error": "\(error)"])
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
            guard let statement = group.statement else {
                return .refused("#\(name)'s members are not signed by an admin (it was set up by an older Parla): an admin's next change to it signs them")
            }
            if heldGroups[name] == statement.version { return .held }
            let members = statement.memberNames.filter { $0 != profile.name }
            guard !members.isEmpty else { return .refused("#\(name) has no other members") }
            try store.retarget(outboxID: item.id, to: members)
            var copies = try store.groupCopies(outboxID: item.id)
            for member in members where copies[member] == nil {
                switch await sealPayload(item.payload, for: member, on: link, storing: .groupCopy(outboxID: item.id, member: member),
                                         expecting: statement.key(of: member), in: name) {
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

    /// The relay refused a group message because its members are not the ones we sealed for.
    /// Our members are the signed ones, so the message waits until a signed change arrives
    /// (the relay is ahead of us) and says so when the relay has members nobody signed.
    func membershipChanged(outboxID: String) {
        guard let recipient = try? store.outboxRecipient(id: outboxID), let name = ClientStore.groupName(ofChat: recipient),
              let group = try? store.group(name) else { return }
        // The group info just before the error agrees with us: a signed change reached us after
        // this copy was sealed. Go again at once.
        guard relayGroupViews[name] != .matches else {
            Task { await self.flushOutbox() }
            return
        }
        heldGroups[name] = group.version
        if case .differs(let extra, let missing) = relayGroupViews[name], warnedGroupVersions[name] != group.version {
            warnedGroupVersions[name] = group.version
            var parts: [String] = []
            if !extra.isEmpty { parts.append("adds \(extra.joined(separator: ", "))") }
            if !missing.isEmpty { parts.append("leaves out \(missing.joined(separator: ", "))") }
            let text = "⚠ The relay's member list for #\(name) \(parts.joined(separator: " and ")) without a change signed by an admin. "
                + "Messages to #\(name) wait; nobody unsigned is ever sent one."
            if let notice = try? store.notice(chat: group.chat, text: text, me: profile.name) {
                eventSink.yield(.messageAdded(notice))
                eventSink.yield(.notice(text))
            }
        }
        logger.info("group members differ from the relay's; holding the message", metadata: ["id": "\(outboxID)", "group": "\(name)"])
        Task { await self.flushOutbox() }
    }

    /// Signed changes arrived: messages held for these groups go again.
    func groupsChanged(_ names: Set<String>) {
        guard !names.isEmpty else { return }
        for name in names { heldGroups[name] = nil }
        Task { await self.flushOutbox() }
    }

    // MARK: - Invitations

    /// Who put us in `group` without our having written to them, while the invitation stands.
    public func invitation(to group: String) throws(EngineError) -> String? {
        do { return try store.invitation(to: group) } catch { throw .storage("\(error)") }
    }

    /// Joins a group we were invited to: it becomes a chat like any other.
    public func acceptInvitation(to group: String) throws(EngineError) {
        do {
            // What was read before accepting stays unreported: only later reads send receipts.
            guard try store.acceptInvitation(to: group) else { throw EngineError.groupChangeRefused("there is no invitation to #\(group)") }
        } catch let error as EngineError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Leaves a group we were invited to and deletes everything of it on this device.
    public func declineInvitation(to group: String) async throws(EngineError) {
        guard try invitation(to: group) != nil else { throw .groupChangeRefused("there is no invitation to #\(group)") }
        try await updateGroup(group, .leave)
        do { try store.deleteDeclinedGroup(group) } catch { throw .storage("\(error)") }
    }
}
