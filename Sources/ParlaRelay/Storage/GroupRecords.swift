import Foundation
import ParlaProtocol

/// A group as stored: members in the order they joined, admins among them.
public struct GroupRecord: Sendable, Equatable, Codable {
    public var name: String
    public var title: String
    public var members: [String]
    public var admins: [String]
    /// The newest change's signed statement, forwarded for clients to check.
    public var change: SignedGroupChange?
    public var version = 0

    public init(name: String, title: String, members: [String], admins: [String], change: SignedGroupChange? = nil, version: Int = 0) {
        self.name = name
        self.title = title
        self.members = members
        self.admins = admins
        self.change = change
        self.version = version
    }

    public var frame: RelayFrame.GroupInfo { .init(group: name, title: title, members: members, admins: admins, version: version, change: change) }
}

/// A membership change asked for by `actor` (ids make retries idempotent).
public struct GroupChange: Sendable, Equatable {
    public var id: String
    public var actor: String
    public var group: String
    public var action: GroupAction
    /// Who is added, removed, promoted or demoted; for `create`, the first members.
    public var subjects: [String]
    public var title: String?
    /// The state after the change, signed by `actor`; checked against what the change makes of the group.
    public var signed: SignedGroupChange?

    public init(id: String, actor: String, group: String, action: GroupAction, subjects: [String] = [], title: String? = nil, signed: SignedGroupChange? = nil) {
        self.signed = signed
        self.id = id
        self.actor = actor
        self.group = group
        self.action = action
        self.subjects = subjects
        self.title = title
    }
}

public enum GroupChangeOutcome: Sendable, Equatable {
    /// Stored; the event waits in the mailboxes of `notify`.
    case applied(GroupRecord, notify: [String])
    /// Already applied under this id.
    case duplicate
    case refused(FrameError)
}

public enum GroupSendOutcome: Sendable, Equatable {
    case stored(recipients: [String])
    case duplicate
    case refused(FrameError)
    /// The copies do not match the members: the sender gets the current group and retries.
    case membershipChanged(GroupRecord)
}

/// The body of a stored group event (what becomes a `groupEvent` frame).
public struct GroupEventRecord: Sendable, Codable, Equatable {
    public var action: GroupAction
    public var subjects: [String]
    public var members: [String]
    public var admins: [String]
    public var title: String
    public var change: SignedGroupChange?

    public init(action: GroupAction, subjects: [String], members: [String], admins: [String], title: String, change: SignedGroupChange?) {
        self.action = action
        self.subjects = subjects
        self.members = members
        self.admins = admins
        self.title = title
        self.change = change
    }

    func frame(id: String, group: String, actor: String, at: Int64) -> RelayFrame.GroupEvent {
        .init(id: id, group: group, action: action, actor: actor, subjects: subjects, members: members, admins: admins, title: title, at: at, change: change)
    }
}
