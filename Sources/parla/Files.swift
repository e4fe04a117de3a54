import ArgumentParser
import Foundation
import ParlaClient
import Synchronization

/// Shows a file's progress on stderr (a bar on a terminal, a line per tenth otherwise) and
/// remembers when it last moved, so a command's timeout counts only time without progress.
final class TransferMeter: Sendable {
    private let state = Mutex<(moved: ContinuousClock.Instant?, shownTenth: Int)>((nil, -1))
    private let onTerminal = isatty(STDERR_FILENO) == 1
    private let name: String

    init(name: String) {
        self.name = name
    }

    var lastMovedAt: ContinuousClock.Instant? { state.withLock { $0.moved } }

    /// Follows the engine's events until they end.
    func follow(_ events: AsyncStream<ClientEvent>, messageID: @escaping @Sendable () -> String?) -> Task<Void, Never> {
        Task {
            for await event in events {
                guard case .transfer(let progress) = event, progress.messageID == messageID() else { continue }
                show(progress)
            }
        }
    }

    func show(_ progress: TransferProgress) {
        let percent = progress.total == 0 ? 100 : progress.bytes * 100 / progress.total
        let line: String? = state.withLock { state in
            state.moved = .now
            if onTerminal {
                let filled = percent / 5
                return "\r\(progress.upload ? "uploading" : "downloading") \(DisplayText.safe(name)) [\(String(repeating: "#", count: filled))\(String(repeating: " ", count: 20 - filled))] "
                    + "\(percent)% \(ByteSize.describe(progress.bytes))/\(ByteSize.describe(progress.total))" + (percent == 100 ? "\n" : "")
            }
            guard percent / 10 > state.shownTenth else { return nil }
            state.shownTenth = percent / 10
            return "\(progress.upload ? "uploading" : "downloading") \(DisplayText.safe(name)): \(percent)%\n"
        }
        if let line { try? FileHandle.standardError.write(contentsOf: Data(line.utf8)) }
    }
}

struct Save: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Save the file of message ID into a directory (downloading it first if needed); prints the saved path.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message's id (as 'history --json' prints it).") var id: String
    @Option(help: "Where to put it (default: the current directory).") var to: String?
    @Option(help: "Seconds without progress before giving up on a download.") var timeout: Double = 30

    func run() async throws {
        try await reportingErrors {
            let client = try global.openClient()
            guard let message = try client.store.message(anyChatWithID: id), message.deleted == nil else { throw CLIError("no message with id \(id)") }
            guard let file = message.attachment else { throw CLIError("message \(id) has no file") }
            let meter = TransferMeter(name: file.name)
            let following = meter.follow(client.events) { id }
            let directory = to ?? FileManager.default.currentDirectoryPath
            let saved: Result<String, EngineError>? = try await EngineRun(client).whileRunning(timeout: timeout, progress: meter) {
                do {
                    return .success(try await client.save(messageID: id, chat: message.chat, to: directory))
                } catch let error as EngineError {
                    return .failure(error)
                } catch {
                    return .failure(.storage("\(error)"))
                }
            }
            await client.finishEvents()
            await following.value
            switch saved {
            case .success(let path)?: print(path)
            case .failure(let error)?: throw CLIError("\(error)")
            case nil: throw CLIError("could not download \(file.name): \(await client.lastFailure ?? "no progress for \(Int(timeout)) s")")
            }
        }
    }
}
