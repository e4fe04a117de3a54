import Foundation

/// Group chats on the wire (docs/PROTOCOL.md §5). A group has a name with the same rules
/// as user names (shown as `#name`), a title, members and admins.
public enum GroupAction: String, Sendable, Codable, CaseIterable {
    case create, add, remove, leave, rename, promote, demote
}

extension ClientFrame {
    /// Creates a group with the sender as its first admin.
    public struct GroupCreate: Sendable, Equatable {
        public var id: String
        public var group: String
        public var title: String
        public var members: [String]
        /// The new group's state (version 1) signed by its creator.
        public var change: SignedGroupChange?
        public init(id: String, group: String, title: String, members: [String], change: SignedGroupChange? = nil) {
            self.id = id
            self.group = group
            self.title = title
            self.members = members
            self.change = change
        }
    }

    /// add / remove / promote / demote (`members`), rename (`title`), leave (neither).
    public struct GroupUpdate: Sendable, Equatable {
        public var id: String
        public var group: String
        public var action: GroupAction
        public var members: [String]
        public var title: String?
        /// The state after the change, signed by the member making it.
        public var change: SignedGroupChange?
        public init(id: String, group: String, action: GroupAction, members: [String] = [], title: String? = nil, change: SignedGroupChange? = nil) {
            self.id = id
            self.group = group
            self.action = action
            self.members = members
            self.title = title
            self.change = change
        }
    }

    /// One message to a group: a copy per current member (but the sender), each encrypted
    /// for its member. The relay stores all or none.
    public struct GroupSend: Sendable, Equatable {
        public struct Copy: Sendable, Equatable, Codable {
            public var to: String
            public var body: Data
            public init(to: String, body: Data) {
                self.to = to
                self.body = body
            }
        }

        public var id: String
        public var group: String
        public var copies: [Copy]
        public init(id: String, group: String, copies: [Copy]) {
            self.id = id
            self.group = group
            self.copies = copies
        }
    }
}

extension RelayFrame {
    /// A group's current state, sent on request and before a `membership_changed` error.
    public struct GroupInfo: Sendable, Equatable {
        public var group: String
        public var title: String
        public var members: [String]
        public var admins: [String]
        /// How many changes the group has had since the relay began counting (0 when absent).
        public var version: Int
        /// The signed statement of the newest change (nil for a group changed without one).
        public var change: SignedGroupChange?
        public init(group: String, title: String, members: [String], admins: [String], version: Int = 0, change: SignedGroupChange? = nil) {
            self.version = version
            self.group = group
            self.title = title
            self.members = members
            self.admins = admins
            self.change = change
        }
    }

    /// A membership change, stored and forwarded to every member (and to those removed);
    /// confirmed like a message. `members` and `title` are the group's state after it.
    public struct GroupEvent: Sendable, Equatable {
        public var id: String
        public var group: String
        public var action: GroupAction
        public var actor: String
        /// Who was added, removed, promoted or demoted (empty for create, leave, rename).
        public var subjects: [String]
        public var members: [String]
        public var admins: [String]
        public var title: String
        public var at: Int64
        /// The actor's signed statement of the state after the change; clients apply nothing else.
        public var change: SignedGroupChange?
        public init(id: String, group: String, action: GroupAction, actor: String, subjects: [String], members: [String], admins: [String], title: String, at: Int64,
                    change: SignedGroupChange? = nil) {
            self.change = change
            self.id = id
            self.group = group
            self.action = action
            self.actor = actor
            self.subjects = subjects
            self.members = members
            self.admins = admins
            self.title = title
            self.at = at
        }
    }
}

/// Limits for groups shared by client and relay.
public enum GroupLimits {
    public static let maxTitleBytes = 100
    public static let defaultMaxMembers = 256

    public static func isValidTitle(_ title: String) -> Bool {
        !title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && title.utf8.count <= maxTitleBytes
            && !title.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}
