import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import ParlaTUI
import Testing

/// A picture bob sends shows inside alice's conversation, drawn by the real `parla` binary
/// on a terminal that speaks sixel, or kitty graphics, and moves with the conversation.
extension TmuxEndToEndTests {
    @Test(arguments: [GraphicsTerminal.Kind.sixel, .kitty])
    func aReceivedPictureIsDrawnInsideTheConversationAndMovesWithIt(_ kind: GraphicsTerminal.Kind) async throws {
        if kind == .sixel, !FileManager.default.isExecutableFile(atPath: "/usr/bin/img2sixel") {
            Issue.record("img2sixel is not installed (.ci/run installs libsixel-bin)")
            return
        }
        let world = try await aliceAndBob()
        defer { world.stop() }
        let picture = makeTemporaryDirectory(prefix: "parla-picture") + "/red.png"
        try Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGP4z8AARwzEcQCukw/x0F8jngAAAABJRU5ErkJggg==")!
            .write(to: URL(fileURLWithPath: picture))
        _ = try await world.bob.sendFile(at: picture, to: "alice", caption: "the door")
        try await world.bob.waitUntilTransfersDone()

        let terminal = try GraphicsTerminal(kind, executable: try RelayProcess.executable(named: "parla"), arguments: ["--home", world.alice.directory],
                                            environment: ["TERM": "xterm-256color", "LANG": "C.UTF-8", "HOME": world.alice.directory,
                                                          "XDG_CONFIG_HOME": makeTemporaryDirectory(prefix: "parla-ui-config"),
                                                          "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        defer { terminal.stop() }
        // The 4x4 picture takes one cell (never drawn larger), at the start of the text column.
        let drawn: String = kind == .sixel ? "\"1;1;10;18" : "a=p,i=1000,c=1,r=1"
        let first = try await terminal.waitFor("the picture drawn") { $0.contains(drawn) }
        let position = try #require(Self.positionBefore(drawn, in: first), "a cursor move just before the picture")
        #expect(first.contains("the door"))
        #expect(position.row > 1 && position.row < 28 && position.column > 25, "inside the conversation pane, past the chat list: \(position)")

        // alice answers: the conversation moves up a row and the picture with it.
        let before = terminal.output.count
        terminal.type("/new bob\r")
        try await Task.sleep(for: .milliseconds(300))
        terminal.type("what a door\r")
        let after = try await terminal.waitFor("the picture drawn again, higher") { output in
            let new = String(output.dropFirst(before))
            return Self.positionBefore(drawn, in: new).map { $0.row < position.row } ?? false
        }
        let moved = String(after.dropFirst(before))
        if kind == .kitty {
            #expect(moved.contains("\u{1B}_Ga=d,d=a,q=2\u{1B}\\") && !moved.contains("a=t,"), "placed again, never sent again")
        } else {
            #expect(moved.contains("\u{1B}[2J") || moved.contains("\u{1B}[H\u{1B}[J"), "the screen repainted before the sixel moves")
        }
        try await eventually("bob got the answer") { try world.bob.store.allMessages().contains { $0.text == "what a door" } }
    }

    /// Row and column (1-based) of the last cursor move before the last `marker`.
    static func positionBefore(_ marker: String, in output: String) -> (row: Int, column: Int)? {
        guard let range = output.range(of: marker, options: .backwards) else { return nil }
        let head = output[..<range.lowerBound]
        // The picture's own sequence starts with ESC P or ESC _: the last CSI is the move.
        guard let move = head.range(of: "\u{1B}[", options: .backwards) else { return nil }
        let numbers = head[move.upperBound...].prefix { $0 != "H" }.split(separator: ";").compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }
}
