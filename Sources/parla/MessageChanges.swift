import ArgumentParser
import Foundation
import ParlaClient

/// Commands that change a message already in a chat: react, edit, delete.
extension AsyncParsableCommand {
    /// Finds message `id` in whichever chat holds it, applies `change`, sends what it queued
    /// (waiting up to `timeout`), and prints `done` with a note if it stays queued.
    func changeMessage(id: String, global: GlobalOptions, timeout: Double,
                    _ change: (ParlaClient, MessageRecord) async throws -> String) async throws {
        try await reportingErrors {
            let client = try global.openClient()
            guard let message = try client.store.message(anyChatWithID: id), message.deleted != .me else { throw CLIError("no message with id \(id)") }
            let done: String
            do {
                done = try await change(client, message)
            } catch let error as EngineError {
                throw CLIError("\(error)")
            }
            await sendQueued(client, timeout: timeout, done: done)
        }
    }

    /// Sends what the command queued (waiting up to `timeout`) and prints `done`, saying so if it stays queued.
    func sendQueued(_ client: ParlaClient, timeout: Double, done: String) async {
        await EngineRun(client).flushQueued(budget: timeout)
        let left = await client.outboxCount()
        print(done + (left > 0 ? " (queued: the relay is not reachable)" : ""))
    }
}

struct React: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "React to message ID with EMOJI (one per person; an empty EMOJI takes yours back).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message's id (as 'send' and 'history --json' print it).") var id: String
    @Argument(help: "One emoji, or '' to take your reaction back.") var emoji: String
    @Option(help: "Seconds to wait for the relay before leaving the reaction queued.") var timeout: Double = 10

    func run() async throws {
        try await changeMessage(id: id, global: global, timeout: timeout) { client, message in
            try await client.react(to: id, in: message.chat, with: emoji)
            return emoji.isEmpty ? "took back your reaction in \(message.chat)" : "reacted \(emoji) in \(message.chat)"
        }
    }
}

struct Edit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Replace the text of your message ID, for everyone in its chat.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message's id (as 'send' and 'history --json' print it).") var id: String
    @Argument(help: "The new text.") var text: String
    @Option(help: "Seconds to wait for the relay before leaving the edit queued.") var timeout: Double = 10

    func run() async throws {
        try await changeMessage(id: id, global: global, timeout: timeout) { client, message in
            try await client.edit(id, in: message.chat, to: text)
            return "edited \(id) in \(message.chat)"
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete message ID from your history, or with --everyone (yours only) from every side.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message's id (as 'send' and 'history --json' print it).") var id: String
    @Flag(help: "Delete it for everyone in the chat (only your own messages).") var everyone = false
    @Option(help: "Seconds to wait for the relay before leaving the deletion queued.") var timeout: Double = 10

    func run() async throws {
        try await changeMessage(id: id, global: global, timeout: timeout) { client, message in
            try await client.delete(id, in: message.chat, for: everyone ? .everyone : .me)
            return everyone ? "deleted \(id) for everyone in \(message.chat)" : "deleted \(id) here (\(message.chat) still has it)"
        }
    }
}

struct Timer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Disappearing messages: new messages of CHAT disappear DURATION after they are sent or received (for both sides).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The other user's name, or #GROUP.") var chat: String
    @Argument(help: "30s, 5m, 1h, 1d, 1w (at least 5s, at most a year), or off.") var duration: String
    @Option(help: "Seconds to wait for the relay before leaving the change queued.") var timeout: Double = 10

    func run() async throws {
        try await reportingErrors {
            guard let seconds = DisappearingTimer.parse(duration) else { throw CLIError("'\(duration)' is not a timer: \(DisappearingTimer.usage)") }
            let client = try global.openClient()
            do {
                try await client.setTimer(seconds, forChat: chat)
            } catch let error as EngineError {
                throw CLIError("\(error)")
            }
            let done = seconds.map { "messages in \(chat) now disappear after \(DisappearingTimer.describe($0))" } ?? "messages in \(chat) no longer disappear"
            await sendQueued(client, timeout: timeout, done: done)
        }
    }
}
