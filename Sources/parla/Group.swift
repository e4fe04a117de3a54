import ArgumentParser
import Foundation
import ParlaClient
import ParlaProtocol

/// `parla group …`: group membership from scripts. Changes need the relay (it checks who may
/// do what); messages to a group go through `parla send '#NAME' TEXT`.
struct Group: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and manage group chats (#NAME).",
        subcommands: [Create.self, Add.self, Remove.self, Leave.self, Rename.self, Promote.self, Demote.self, Info.self, Accept.self, Decline.self])

    /// `team` or `#team` → `team`, checked.
    static func name(_ raw: String) throws -> String {
        let name = raw.hasPrefix("#") ? String(raw.dropFirst()) : raw
        guard Validation.isValidName(name) else {
            throw ValidationError("'\(raw)' is not a valid group name: 3-32 characters of a-z 0-9 _ . -")
        }
        return name
    }

    static func members(_ raw: [String]) throws -> [String] {
        if let bad = raw.first(where: { !Validation.isValidName($0) }) {
            throw ValidationError("'\(bad)' is not a valid user name")
        }
        return raw
    }

    /// Connects, catches up (so the local view is current), runs `request`, reports.
    static func change(_ global: GlobalOptions, timeout: Double, done: String,
                       _ request: @escaping @Sendable (ParlaClient) async throws(EngineError) -> Void) async throws {
        let client = try global.openClient()
        let outcome = try await EngineRun(client).whileRunning(timeout: timeout) { () -> Result<Void, EngineError> in
            await client.waitUntilSynced()
            do throws(EngineError) {
                try await request(client)
                return .success(())
            } catch {
                return .failure(error)
            }
        } andThen: {
            // Let the event that confirms the change arrive, so `chats` and the UI show it at once.
            await client.waitUntilSynced()
        }
        switch outcome {
        case nil: throw CLIError("the relay did not answer within \(Int(timeout)) s; check with 'parla group info' before trying again")
        case .failure(let error)?: throw CLIError("\(error)")
        case .success?: print(done)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create #NAME with MEMBERs (you become its admin).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name (3-32 of a-z 0-9 _ . -), with or without '#'.") var name: String
        @Argument(help: "User names to add.") var members: [String] = []
        @Option(help: "Title shown in the chat list (default: the name).") var title: String?
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10

        func run() async throws {
            try await reportingErrors {
                let group = try Group.name(name)
                let members = try Group.members(members)
                let title = title ?? group
                guard GroupLimits.isValidTitle(title) else { throw CLIError("a title is 1-\(GroupLimits.maxTitleBytes) bytes of text") }
                try await Group.change(global, timeout: timeout, done: "created #\(group)") { client throws(EngineError) in
                    try await client.createGroup(group, title: title, members: members)
                }
            }
        }
    }

    struct Add: MembersChange {
        static let configuration = CommandConfiguration(abstract: "Add MEMBERs to #NAME (admins only).")
        static let action = GroupAction.add
        static func done(_ members: String, _ group: String) -> String { "added \(members) to #\(group)" }
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Argument(help: "User names.") var members: [String]
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10
    }

    struct Remove: MembersChange {
        static let configuration = CommandConfiguration(abstract: "Remove MEMBERs from #NAME (admins only).")
        static let action = GroupAction.remove
        static func done(_ members: String, _ group: String) -> String { "removed \(members) from #\(group)" }
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Argument(help: "User names.") var members: [String]
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10
    }

    struct Leave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Leave #NAME (the history stays on this device).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10

        func run() async throws {
            try await reportingErrors {
                let group = try Group.name(name)
                try await Group.change(global, timeout: timeout, done: "left #\(group)") { client throws(EngineError) in
                    try await client.updateGroup(group, .leave)
                }
            }
        }
    }

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Join #NAME, which someone you never wrote to put you in.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String

        func run() async throws {
            try await reportingErrors {
                let group = try Group.name(name)
                let client = try global.openClient()
                do throws(EngineError) {
                    try await client.acceptInvitation(to: group)
                } catch {
                    throw CLIError("\(error)")
                }
                print("joined #\(group)")
            }
        }
    }

    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Leave #NAME, which someone you never wrote to put you in, and delete it here.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10

        func run() async throws {
            try await reportingErrors {
                let group = try Group.name(name)
                try await Group.change(global, timeout: timeout, done: "declined #\(group): left it and deleted it here") { client throws(EngineError) in
                    try await client.declineInvitation(to: group)
                }
            }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give #NAME a new TITLE (admins only).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Argument(help: "The new title.") var title: String
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10

        func run() async throws {
            try await reportingErrors {
                let group = try Group.name(name)
                guard GroupLimits.isValidTitle(title) else { throw CLIError("a title is 1-\(GroupLimits.maxTitleBytes) bytes of text") }
                let title = title
                try await Group.change(global, timeout: timeout, done: "#\(group) is now “\(title)”") { client throws(EngineError) in
                    try await client.updateGroup(group, .rename, title: title)
                }
            }
        }
    }

    struct Promote: MembersChange {
        static let configuration = CommandConfiguration(abstract: "Make MEMBERs admins of #NAME (admins only).")
        static let action = GroupAction.promote
        static func done(_ members: String, _ group: String) -> String { "\(members) now admin of #\(group)" }
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Argument(help: "User names.") var members: [String]
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10
    }

    struct Demote: MembersChange {
        static let configuration = CommandConfiguration(abstract: "Make MEMBERs no longer admins of #NAME (admins only).")
        static let action = GroupAction.demote
        static func done(_ members: String, _ group: String) -> String { "\(members) no longer admin of #\(group)" }
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Argument(help: "User names.") var members: [String]
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 10
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Members and admins of #NAME (asks the relay; offline, what this device knows).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group name.") var name: String
        @Option(help: "Seconds to wait for the relay.") var timeout: Double = 5
        @Flag(help: "One JSON object.") var json = false

        func run() async throws {
            try await reportingErrors {
                let group = try Group.name(name)
                let client = try global.openClient()
                let fresh = try await EngineRun(client).whileRunning(timeout: timeout) { () -> ClientStore.GroupState?? in
                    await client.waitUntilSynced()
                    return try? await client.fetchGroup(group)
                }
                let known: ClientStore.GroupState?
                switch fresh {
                case let state??: known = state
                case .some(.none): throw CLIError("no group #\(group) that you are a member of")
                case nil: known = try await client.group(group)
                }
                guard let state = known else { throw CLIError("no group #\(group) known here (and the relay did not answer)") }
                if json {
                    let object: [String: Any] = ["group": state.name, "chat": state.chat, "title": state.title, "members": state.members,
                                                 "admins": state.admins, "member": state.isMember]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print("#\(state.name) “\(state.title)”\(fresh == nil ? " (offline: as last seen)" : "")")
                    print("members (\(state.members.count)): " + state.members.map { state.admins.contains($0) ? "\($0) (admin)" : $0 }.joined(separator: ", "))
                    if !state.isMember { print("you are no longer a member") }
                }
            }
        }
    }
}

/// The group commands that name members (add, remove, promote, demote): one way to run them.
protocol MembersChange: AsyncParsableCommand {
    static var action: GroupAction { get }
    static func done(_ members: String, _ group: String) -> String
    var global: GlobalOptions { get }
    var name: String { get }
    var members: [String] { get }
    var timeout: Double { get }
}

extension MembersChange {
    func run() async throws {
        try await reportingErrors {
            let group = try Group.name(name)
            let members = try Group.members(members)
            try await Group.change(global, timeout: timeout, done: Self.done(members.joined(separator: ", "), group)) { client throws(EngineError) in
                try await client.updateGroup(group, Self.action, members: members)
            }
        }
    }
}
