import Foundation
import GRDB
@testable import ParlaClient
import ParlaCrypto
import ParlaProtocol
import ParlaRelayTesting
import Testing

/// Group membership is what an admin signed, never what the relay says. Each event below is
/// one a malicious relay could put in bob's mailbox; before signed statements, each of the
/// first four added mallory to #team, and bob's next message was encrypted to her.
@Suite struct SignedMembershipTests {
    let alice = IdentityKeys()
    let bob = IdentityKeys()
    let carol = IdentityKeys()
    let mallory = IdentityKeys()
    let store: ClientStore

    init() throws {
        store = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-members") + "/bob.sqlite")
        _ = try store.applyGroupEvents([event(created)], me: "bob", myKey: bob.signingPublic)
    }

    var created: GroupStatement {
        try! GroupTransition.next(from: nil, group: "team", action: .create, actor: "alice", subjects: ["bob"], title: "Team",
                                  newKeys: ["alice": alice.signingPublic, "bob": bob.signingPublic]).get()
    }

    func adding(_ name: String, key: Data) -> GroupStatement {
        try! GroupTransition.next(from: created, group: "team", action: .add, actor: "alice", subjects: [name], title: nil,
                                  newKeys: [name: key]).get()
    }

    func event(_ statement: GroupStatement, signedBy keys: IdentityKeys? = nil, id: String = UUID().uuidString) -> RelayFrame.GroupEvent {
        let signer = keys ?? [("alice", alice), ("bob", bob), ("carol", carol), ("mallory", mallory)].first { $0.0 == statement.actor }!.1
        return RelayFrame.GroupEvent(id: id, group: statement.group, action: statement.action, actor: statement.actor, subjects: statement.subjects,
                                     members: statement.memberNames, admins: statement.admins, title: statement.title, at: 1_000,
                                     change: SignedGroupChange.sign(statement, with: signer))
    }

    func members() throws -> [String] { try store.group("team")?.members ?? [] }

    func lastLine() throws -> String { try store.history(chat: "#team", limit: 1).last?.text ?? "" }

    @Test func aSignedCreationIsTheGroup() throws {
        #expect(try members() == ["alice", "bob"])
        #expect(try store.group("team")?.version == 1)
        // Bob never wrote to alice: the group is an invitation until he accepts.
        #expect(try lastLine() == "alice created #team “Team” with you. alice, whom you have never written to, put you in #team: "
            + "/accept to join, /decline to leave and delete it (parla group accept|decline team)")
        #expect(try store.invitation(to: "team") == "alice")
    }

    @Test func anUnsignedAddChangesNothingAndIsSaid() throws {
        var unsigned = event(adding("mallory", key: mallory.signingPublic))
        unsigned.change = nil
        _ = try store.applyGroupEvents([unsigned], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob"])
        #expect(try lastLine().hasPrefix("⚠ Ignored a change to #team the relay sent (“alice added mallory”): it is not signed by anyone."))
    }

    @Test func anAddInAnAdminsNameSignedByAnotherKeyChangesNothing() throws {
        _ = try store.applyGroupEvents([event(adding("mallory", key: mallory.signingPublic), signedBy: mallory)], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob"])
        #expect(try lastLine().contains("it is not signed by alice's key"))
    }

    @Test func aMemberWhoIsNoAdminCannotAdd() throws {
        var statement = adding("mallory", key: mallory.signingPublic)
        statement.actor = "bob"
        _ = try store.applyGroupEvents([event(statement, signedBy: bob)], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob"])
        #expect(try lastLine().contains("only admins of #team can add members"))
    }

    @Test func aStrangerCannotSignHerselfIn() throws {
        var statement = adding("mallory", key: mallory.signingPublic)
        statement.actor = "mallory"
        _ = try store.applyGroupEvents([event(statement, signedBy: mallory)], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob"])
        #expect(try lastLine().contains("mallory is not a member of #team"))
    }

    @Test func statementsThatDoNotFollowTheStateAreRefused() throws {
        // The relay's own "members" in an otherwise valid statement are not what it signs.
        var padded = adding("carol", key: carol.signingPublic)
        padded.members.append(.init(name: "mallory", key: mallory.signingPublic))
        _ = try store.applyGroupEvents([event(padded)], me: "bob", myKey: bob.signingPublic)
        // A version skipped (a change held back) cannot be checked against the state we have.
        var skipped = adding("carol", key: carol.signingPublic)
        skipped.version = 3
        _ = try store.applyGroupEvents([event(skipped)], me: "bob", myKey: bob.signingPublic)
        // Bob listed with a key that is not his: others would encrypt his copies to someone else.
        var swapped = created
        swapped.members[1].key = mallory.signingPublic
        let store2 = try ClientStore(path: makeTemporaryDirectory(prefix: "parla-members") + "/bob2.sqlite")
        _ = try store2.applyGroupEvents([event(swapped)], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob"])
        #expect(try store2.group("team") == nil)
        let lines = try store.history(chat: "#team", limit: 10).map(\.text)
        #expect(lines.contains { $0.contains("not what add makes of the group") })
        #expect(lines.contains { $0.contains("version 3 does not follow 1") })
        #expect(try store2.history(chat: "#team", limit: 1).first?.text.contains("it lists you with a key that is not yours") == true)
    }

    @Test func aValidAddApplysAndAReplayOfAnOlderStateDoesNot() throws {
        let withCarol = adding("carol", key: carol.signingPublic)
        _ = try store.applyGroupEvents([event(withCarol)], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob", "carol"])
        #expect(try lastLine() == "alice added carol")
        // The creation again under a new id: the relay cannot roll the group back.
        _ = try store.applyGroupEvents([event(created)], me: "bob", myKey: bob.signingPublic)
        #expect(try members() == ["alice", "bob", "carol"])
        #expect(try lastLine().contains("it is not newer than version 2"))
        // Alice leaves: bob, the longest-standing member after her, takes over (signed by alice).
        let left = try GroupTransition.next(from: withCarol, group: "team", action: .leave, actor: "alice", subjects: [], title: nil, newKeys: [:]).get()
        _ = try store.applyGroupEvents([event(left)], me: "bob", myKey: bob.signingPublic)
        #expect(try store.group("team")?.admins == ["bob"])
        #expect(try lastLine() == "alice left; you are now an admin")
    }

    @Test func theRelaysGroupInfoNeverChangesSignedMembers() throws {
        let info = RelayFrame.GroupInfo(group: "team", title: "Team", members: ["alice", "bob", "mallory"], admins: ["alice"], version: 1)
        #expect(try store.compareGroupInfo(info, me: "bob", myKey: bob.signingPublic) == .differs(extra: ["mallory"], missing: []))
        #expect(try members() == ["alice", "bob"])
        let ahead = RelayFrame.GroupInfo(group: "team", title: "Team", members: ["alice", "bob", "carol"], admins: ["alice"], version: 2)
        #expect(try store.compareGroupInfo(ahead, me: "bob", myKey: bob.signingPublic) == .ahead)
        #expect(try members() == ["alice", "bob"])
    }
}
