import Foundation
import ParlaProtocol
import ParlaRelay
import ParlaRelayPostgres
import Testing

/// What a membership change makes of a group, decided without any database (both stores
/// write the same plan).
@Suite struct GroupPlanTests {
    let keys: [String: Data] = ["alice": Data([1]), "bob": Data([2]), "carol": Data([3])]

    @Test func creatingAddsTheActorFirstAndTellsEveryone() throws {
        let change = GroupChange(id: "c", actor: "alice", group: "team", action: .create, subjects: ["bob", "carol", "bob"], title: "Team")
        let plan = try change.plan(current: nil, keys: keys, maxMembers: 10).get()
        #expect(plan.after.members == ["alice", "bob", "carol"] && plan.after.admins == ["alice"] && plan.after.version == 1)
        #expect(plan.added == ["alice", "bob", "carol"] && plan.notify == ["alice", "bob", "carol"])
        #expect(plan.needsRoom == ["bob", "carol"], "being put in a group is news from the actor, counted in their mailboxes")
        #expect(!plan.deletesGroup)
    }

    @Test func refusalsNameTheProblem() {
        let group = GroupRecord(name: "team", title: "Team", members: ["alice", "bob"], admins: ["alice"], version: 3)
        func refusal(_ change: GroupChange, current: GroupRecord? = nil, maxMembers: Int = 10) -> ErrorCode? {
            if case .failure(let error) = change.plan(current: current, keys: keys, maxMembers: maxMembers) { return error.code }
            return nil
        }
        #expect(refusal(GroupChange(id: "1", actor: "alice", group: "team", action: .create, subjects: ["zed"], title: "T")) == .unknownUser)
        #expect(refusal(GroupChange(id: "2", actor: "alice", group: "team", action: .create, subjects: ["bob"], title: "T"), current: group) == .groupExists)
        #expect(refusal(GroupChange(id: "3", actor: "bob", group: "team", action: .add, subjects: ["carol"]), current: group) == .notAdmin)
        #expect(refusal(GroupChange(id: "4", actor: "carol", group: "team", action: .leave), current: group) == .notMember)
        #expect(refusal(GroupChange(id: "5", actor: "alice", group: "team", action: .add, subjects: ["carol"]), current: group, maxMembers: 2) == .groupFull)
        #expect(refusal(GroupChange(id: "6", actor: "alice", group: "nowhere", action: .rename, title: "X")) == .unknownGroup)
    }

    @Test func theLastAdminLeavingHandsOverAndTheLastMemberDeletes() throws {
        let group = GroupRecord(name: "team", title: "Team", members: ["alice", "bob"], admins: ["alice"], version: 3)
        let leave = try GroupChange(id: "l", actor: "alice", group: "team", action: .leave).plan(current: group, keys: keys, maxMembers: 10).get()
        #expect(leave.after.members == ["bob"] && leave.after.admins == ["bob"] && leave.after.version == 4)
        #expect(leave.removed == ["alice"] && leave.notify == ["bob", "alice"], "the one who left hears it too")
        let alone = GroupRecord(name: "team", title: "Team", members: ["bob"], admins: ["bob"], version: 4)
        let last = try GroupChange(id: "m", actor: "bob", group: "team", action: .leave).plan(current: alone, keys: keys, maxMembers: 10).get()
        #expect(last.deletesGroup && last.notify == ["bob"])
    }

    @Test func postgresURLsAreCheckedAndPrintedWithoutThePassword() throws {
        let url = try PostgresURL("postgres://parla:s3cret@db.example.org:6432/relay?sslmode=verify-full")
        #expect(url.tls == .verifyFull)
        #expect(!"\(url)".contains("s3cret"), "\(url)")
        #expect(throws: (any Error).self) { try PostgresURL("mysql://x@y/z") }
        #expect(throws: (any Error).self) { try PostgresURL("postgres://x@y/z?sslmode=sometimes") }
        #expect(throws: (any Error).self) { try PostgresURL("postgres://x@y/z?pool=9") }
        #expect(throws: (any Error).self) { try PostgresURL("postgres://x@y") }
    }
}
