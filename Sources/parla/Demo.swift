import ArgumentParser
import Foundation
import Logging
import ParlaClient
import ParlaRelay

/// `parla demo`: a relay on a free loopback port with throwaway data, your profile,
/// and a contact that answers, then the UI. Nothing outside a temporary directory is touched.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Try Parla: a private relay, your profile and a contact who answers, all temporary.")
    @Option(help: "Colour theme: default or mono.") var theme: String?

    func run() async throws {
        try await reportingErrors {
            let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("parla-demo-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: base) }
            let logPath = base + "/demo.log"
            let logger = Logger(label: "parla-demo") { FileLogHandler(label: $0, path: logPath) }

            let relay = try await EmbeddedRelay.start(dataDirectory: base + "/relay", logger: logger)
            let url = relay.url
            let transport = WebSocketTransport(logger: logger)

            let me = try await ParlaClient.register(name: "you", server: url, invite: nil, directory: base + "/you", transport: transport)
            let botProfile = try await ParlaClient.register(name: "parla-bot", server: url, invite: nil, directory: base + "/bot", transport: transport)
            let bot = try ParlaClient(profile: botProfile, transport: transport, logger: logger)
            let botTask = Task { await bot.run() }
            let botReplies = Task {
                for await event in bot.events {
                    guard case .messageAdded(let message) = event, message.status == .received else { continue }
                    try? await bot.markRead(chat: message.from)
                    try? await Task.sleep(for: .milliseconds(600))
                    await bot.sendTyping(to: message.from)
                    try? await Task.sleep(for: .milliseconds(600))
                    _ = try? await bot.send(Demo.reply(to: message.text), to: message.from)
                }
            }
            _ = try await bot.send("ciao! I'm parla-bot 👋 Write me anything (emoji and 漢字 welcome) and I'll answer. Ctrl-Q quits, ? shows the keys.", to: "you")

            let client = try ParlaClient(profile: me, transport: transport, logger: logger)
            try await UILauncher.run(client: client, themeName: theme, logger: logger)

            botReplies.cancel()
            botTask.cancel()
            await botTask.value
            await relay.stop()
        }
    }

    static func reply(to text: String) -> String {
        let lower = text.lowercased()
        if lower.contains("ciao") || lower.contains("hello") || lower.hasPrefix("hi") { return "ciao! come va? 😊" }
        if lower.contains("?") { return "good question 🤔 — I only know how to echo: “\(text)”" }
        return "you said: “\(text)” (\(text.count) characters) ✓✓"
    }
}
