import Foundation
import ParlaCrypto
import ParlaProtocol

/// What a membership change makes of a group, decided without the database: every store
/// reads the group and the keys it names, asks for the plan, and writes it in the commit
/// that stores the events.
public struct GroupPlan: Sendable, Equatable {
    /// The group after the change (version and signed statement included).
    public var after: GroupRecord
    /// Members who join, in the order they join.
    public var added: [String]
    public var removed: [String]
    /// The last member left: the group goes.
    public var deletesGroup: Bool
    /// Everyone whose mailbox gets the event: the members after it, and those it removed.
    public var notify: [String]
    public var event: GroupEventRecord
    /// Being put in a group is news from the actor like a message: these need room for it
    /// in their mailbox and the actor's share of it.
    public var needsRoom: [String]
}

extension GroupChange {
    /// Subjects in the order given, each once.
    var uniqueSubjects: [String] { subjects.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } } }

    /// The names whose registered signing keys `plan` needs: subjects (who must exist), the actor,
    /// and the members its signed statement names.
    public var namesToLookUp: [String] {
        (uniqueSubjects + [actor] + (signed?.decoded()?.memberNames ?? [])).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Checks the change against `current` (nil: no such group) and returns what it makes of the
    /// group, or why it is refused. `keys` holds the signing key of each registered user among
    /// `namesToLookUp`; a name missing from it has no account.
    public func plan(current: GroupRecord?, keys: [String: Data], maxMembers: Int) -> Result<GroupPlan, FrameError> {
        func refuse(_ code: ErrorCode, _ message: String) -> Result<GroupPlan, FrameError> { .failure(FrameError(code, message, ref: id)) }
        let name = group
        let subjects = uniqueSubjects
        if let unknown = subjects.first(where: { keys[$0] == nil }) {
            return refuse(.unknownUser, "no user named '\(unknown)' on this relay")
        }
        let previousVersion = current?.version ?? 0
        var after: GroupRecord
        var added: [String] = []
        var removed: [String] = []
        var deletesGroup = false
        var notifyAlso: [String] = []
        if action == .create {
            guard current == nil else { return refuse(.groupExists, "a group named #\(name) already exists") }
            guard let title, GroupLimits.isValidTitle(title) else { return refuse(.badFrame, "a group needs a title of 1-\(GroupLimits.maxTitleBytes) bytes") }
            let members = [actor] + subjects.filter { $0 != actor }
            guard members.count <= maxMembers else { return refuse(.groupFull, "a group has at most \(maxMembers) members") }
            after = GroupRecord(name: name, title: title, members: members, admins: [actor])
            added = members
        } else {
            guard let current else { return refuse(.unknownGroup, "no group named #\(name)") }
            guard current.members.contains(actor) else { return refuse(.notMember, "you are not a member of #\(name)") }
            after = current
            let isAdmin = current.admins.contains(actor)
            var admins = Set(current.admins)
            switch action {
            case .create:
                break
            case .add:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can add members") }
                added = subjects.filter { !current.members.contains($0) }
                guard !added.isEmpty else { return refuse(.badFrame, "\(subjects.joined(separator: ", ")) already in #\(name)") }
                guard current.members.count + added.count <= maxMembers else { return refuse(.groupFull, "#\(name) would have more than \(maxMembers) members") }
            case .remove:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can remove members") }
                guard !subjects.isEmpty, !subjects.contains(actor) else { return refuse(.badFrame, "name the members to remove (to go yourself, leave)") }
                if let outsider = subjects.first(where: { !current.members.contains($0) }) { return refuse(.notMember, "\(outsider) is not in #\(name)") }
                removed = subjects
                notifyAlso = subjects
            case .leave:
                removed = [actor]
                notifyAlso = [actor]
                let remaining = current.members.filter { $0 != actor }
                if remaining.isEmpty {
                    deletesGroup = true
                } else if !current.admins.contains(where: { $0 != actor }) {
                    // The last admin left: the longest-standing member takes over, so the group stays manageable.
                    admins.insert(remaining[0])
                }
            case .rename:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can rename it") }
                guard let title, GroupLimits.isValidTitle(title) else { return refuse(.badFrame, "a group needs a title of 1-\(GroupLimits.maxTitleBytes) bytes") }
                after.title = title
            case .promote, .demote:
                guard isAdmin else { return refuse(.notAdmin, "only admins of #\(name) can \(action.rawValue) members") }
                guard !subjects.isEmpty else { return refuse(.badFrame, "name the members to \(action.rawValue)") }
                if let outsider = subjects.first(where: { !current.members.contains($0) }) { return refuse(.notMember, "\(outsider) is not in #\(name)") }
                if action == .demote, Set(current.admins).isSubset(of: Set(subjects)) {
                    return refuse(.badFrame, "#\(name) needs at least one admin")
                }
                if action == .promote { admins.formUnion(subjects) } else { admins.subtract(subjects) }
            }
            after.members = current.members.filter { !removed.contains($0) } + added
            admins.subtract(removed)
            after.admins = after.members.filter { admins.contains($0) }
            if deletesGroup { after = GroupRecord(name: name, title: "", members: [], admins: []) }
        }
        if let signed, let problem = statementProblem(signed, after: after, previousVersion: previousVersion, keys: keys) {
            return .failure(problem)
        }
        after.change = signed
        after.version = previousVersion + 1
        let event = GroupEventRecord(action: action, subjects: action == .create ? after.members.filter { $0 != actor } : subjects,
                                     members: after.members, admins: after.admins, title: after.title, change: signed)
        return .success(GroupPlan(after: after, added: added, removed: removed, deletesGroup: deletesGroup,
                                  notify: after.members + notifyAlso.filter { !after.members.contains($0) }, event: event,
                                  needsRoom: action == .create || action == .add ? subjects.filter { $0 != actor } : []))
    }

    /// The relay cannot make clients accept a change (they check the statement themselves), but
    /// it refuses one whose statement they would reject, so the sender hears why at once.
    func statementProblem(_ signed: SignedGroupChange, after: GroupRecord, previousVersion: Int, keys: [String: Data]) -> FrameError? {
        func refuse(_ code: ErrorCode, _ message: String) -> FrameError { FrameError(code, message, ref: id) }
        guard let statement = signed.decoded(), statement.group == group, statement.actor == actor, statement.action == action else {
            return refuse(.badFrame, "'change' is not a statement of this change to #\(group)")
        }
        guard statement.version == previousVersion + 1 else {
            return refuse(.membershipChanged, "#\(group) is at version \(previousVersion), not \(statement.version - 1): wait for its changes to arrive and try again")
        }
        guard statement.memberNames == after.members || Set(statement.memberNames) == Set(after.members) && statement.members.count == after.members.count,
              Set(statement.admins) == Set(after.admins), statement.title == after.title else {
            return refuse(.badFrame, "the signed members, admins or title are not what this change makes of #\(group)")
        }
        for member in statement.members where keys[member.name] != member.key {
            return refuse(.badFrame, "the signed key for \(member.name) is not the one \(member.name) registered")
        }
        guard let actorKey = keys[actor], signed.isSigned(by: actorKey) else {
            return refuse(.badSignature, "the group statement is not signed by \(actor)'s key")
        }
        return nil
    }
}
