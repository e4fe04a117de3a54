import Foundation

/// A group's whole state after one change, as the admin (or leaver) who made the change
/// signs it with their identity key. Clients keep the newest statement they could check and
/// encrypt only to its members, so the relay cannot add anyone to a group: it can only
/// forward, delay or drop statements (docs/SECURITY.md, "Groups").
public struct GroupStatement: Sendable, Equatable, Codable {
    /// A member and the identity (signing) key the signer vouches for.
    public struct Member: Sendable, Equatable, Codable {
        public var name: String
        public var key: Data
        public init(name: String, key: Data) {
            self.name = name
            self.key = key
        }
    }

    public var group: String
    /// 1 for `create`, one more for every change after it.
    public var version: Int
    public var action: GroupAction
    public var actor: String
    public var subjects: [String]
    public var title: String
    /// In the order they joined.
    public var members: [Member]
    public var admins: [String]

    public init(group: String, version: Int, action: GroupAction, actor: String, subjects: [String], title: String, members: [Member], admins: [String]) {
        self.group = group
        self.version = version
        self.action = action
        self.actor = actor
        self.subjects = subjects
        self.title = title
        self.members = members
        self.admins = admins
    }

    public var memberNames: [String] { members.map(\.name) }

    public func key(of name: String) -> Data? { members.first { $0.name == name }?.key }

    /// The exact bytes that are signed and sent (so nobody needs to re-encode JSON the same way).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding plain strings, integers and byte arrays cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    /// What the signature covers: a fixed label, so no other signed Parla statement can pass for one.
    public static func signedBytes(_ statement: Data) -> Data {
        Data("parla-group-statement-v1\n".utf8) + statement
    }
}

/// A statement as it travels: its bytes and the signer's Ed25519 signature over them.
public struct SignedGroupChange: Sendable, Equatable, Codable {
    public var statement: Data
    public var signature: Data

    public init(statement: Data, signature: Data) {
        self.statement = statement
        self.signature = signature
    }

    /// The statement inside, or nil when the bytes are not one.
    public func decoded() -> GroupStatement? {
        try? JSONDecoder().decode(GroupStatement.self, from: statement)
    }
}

/// Why a signed change cannot be the next state of a group.
public struct GroupChangeRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The rules of membership, applied the same way by the client that makes a change, the
/// relay that stores it and every client that checks it: who may do what, and the state
/// that follows.
public enum GroupTransition {
    /// The state `action` by `actor` leads to from `previous` (nil: the group does not exist yet).
    /// `newKeys` gives the identity keys of members added by this change.
    public static func next(from previous: GroupStatement?, group: String, action: GroupAction, actor: String, subjects rawSubjects: [String],
                            title: String?, newKeys: [String: Data]) -> Result<GroupStatement, GroupChangeRejection> {
        func fail(_ reason: String) -> Result<GroupStatement, GroupChangeRejection> { .failure(GroupChangeRejection(reason)) }
        let subjects = rawSubjects.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        func keys(for names: [String]) -> [GroupStatement.Member]? {
            var members: [GroupStatement.Member] = []
            for name in names {
                guard let key = newKeys[name] else { return nil }
                members.append(.init(name: name, key: key))
            }
            return members
        }
        guard let previous else {
            guard action == .create else { return fail("#\(group) has no signed state to change") }
            guard let title, GroupLimits.isValidTitle(title) else { return fail("a group needs a title of 1-\(GroupLimits.maxTitleBytes) bytes") }
            guard let members = keys(for: [actor] + subjects.filter { $0 != actor }) else { return fail("a member's key is missing") }
            return .success(GroupStatement(group: group, version: 1, action: .create, actor: actor, subjects: members.dropFirst().map(\.name),
                                           title: title, members: members, admins: [actor]))
        }
        var next = previous
        next.version = previous.version + 1
        next.action = action
        next.actor = actor
        next.subjects = subjects
        let names = previous.memberNames
        guard names.contains(actor) else { return fail("\(actor) is not a member of #\(group)") }
        let isAdmin = previous.admins.contains(actor)
        func requireAdmin() -> GroupChangeRejection? {
            // The relay's words for the same refusal.
            let what = action == .rename ? "rename it" : "\(action.rawValue) members"
            return isAdmin ? nil : GroupChangeRejection("only admins of #\(group) can \(what)")
        }
        switch action {
        case .create:
            return fail("#\(group) already exists")
        case .add:
            if let refusal = requireAdmin() { return .failure(refusal) }
            let added = subjects.filter { !names.contains($0) }
            guard !added.isEmpty, added.count == subjects.count else { return fail("\(subjects.joined(separator: ", ")) already in #\(group)") }
            guard let members = keys(for: added) else { return fail("a new member's key is missing") }
            next.members += members
        case .remove:
            if let refusal = requireAdmin() { return .failure(refusal) }
            guard !subjects.isEmpty, !subjects.contains(actor), subjects.allSatisfy(names.contains) else {
                return fail("remove names members other than the actor")
            }
            next.members.removeAll { subjects.contains($0.name) }
            next.admins.removeAll { subjects.contains($0) }
        case .leave:
            guard subjects.isEmpty else { return fail("leave names nobody") }
            next.members.removeAll { $0.name == actor }
            next.admins.removeAll { $0 == actor }
            // The last admin left: the longest-standing member takes over, so the group stays manageable.
            if next.admins.isEmpty, let heir = next.members.first { next.admins = [heir.name] }
        case .rename:
            if let refusal = requireAdmin() { return .failure(refusal) }
            guard let title, GroupLimits.isValidTitle(title) else { return fail("a group needs a title of 1-\(GroupLimits.maxTitleBytes) bytes") }
            next.title = title
        case .promote:
            if let refusal = requireAdmin() { return .failure(refusal) }
            guard !subjects.isEmpty, subjects.allSatisfy(names.contains) else { return fail("promote names members") }
            next.admins += subjects.filter { !previous.admins.contains($0) }
        case .demote:
            if let refusal = requireAdmin() { return .failure(refusal) }
            guard !subjects.isEmpty, subjects.allSatisfy(names.contains) else { return fail("demote names members") }
            next.admins.removeAll { subjects.contains($0) }
            guard !next.admins.isEmpty else { return fail("#\(group) needs at least one admin") }
        }
        return .success(next)
    }

    /// Whether `statement` is exactly what its own action makes of `previous`: same members with
    /// the same keys (new members' keys are the signer's word), admins, title and version.
    public static func check(_ statement: GroupStatement, follows previous: GroupStatement?) -> GroupChangeRejection? {
        let known = Set(previous?.memberNames ?? [])
        let newKeys = Dictionary(statement.members.filter { !known.contains($0.name) }.map { ($0.name, $0.key) }, uniquingKeysWith: { first, _ in first })
        let title = statement.action == .create || statement.action == .rename ? statement.title : nil
        switch next(from: previous, group: statement.group, action: statement.action, actor: statement.actor, subjects: statement.subjects,
                    title: title, newKeys: newKeys) {
        case .failure(let rejection):
            return rejection
        case .success(let expected):
            guard expected.version == statement.version else {
                return GroupChangeRejection("version \(statement.version) does not follow \(previous?.version ?? 0)")
            }
            guard expected.members == statement.members, Set(expected.admins) == Set(statement.admins), expected.admins.count == statement.admins.count,
                  expected.title == statement.title, expected.subjects == statement.subjects else {
                return GroupChangeRejection("the members, admins or title are not what \(statement.action.rawValue) makes of the group")
            }
            return nil
        }
    }
}
