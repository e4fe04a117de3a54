import Foundation
import ParlaClient
@testable import ParlaTUI
import Testing

/// `/view`: which graphics the terminal answers it has, what is written for a picture, and
/// the empty screen it is drawn on.
@Suite struct ImagePreviewTests {
    @Test func theProbeTellsKittyFromSixelFromNeither() {
        let kitty = Array("\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[?62;22c".utf8)
        #expect(TerminalProbe.parseGraphicsReply(kitty) == .kitty)
        #expect(TerminalProbe.parseGraphicsReply(Array("\u{1B}[?62;4;22c".utf8)) == .sixel, "xterm -ti vt340, foot, mlterm")
        #expect(TerminalProbe.parseGraphicsReply(Array("\u{1B}[?1;2c".utf8)) == nil, "tmux, a plain VT100")
        #expect(TerminalProbe.parseGraphicsReply(Array("\u{1B}[?4;2c".utf8)) == nil, "the class is not an attribute")
        #expect(TerminalProbe.parseGraphicsReply([]) == nil, "no answer")
    }

    @Test func picturesAreKnownByTheirFirstBytesAndSentToKittyInChunks() throws {
        #expect(ImagePreview.format(of: Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0])) == .png)
        #expect(ImagePreview.format(of: Data([0xFF, 0xD8, 0xFF, 0xE0])) == .jpeg)
        #expect(ImagePreview.format(of: Data("GIF89a".utf8)) == .gif)
        #expect(ImagePreview.format(of: Data("RIFF\0\0\0\0WEBP".utf8)) == .webp)
        #expect(ImagePreview.format(of: Data("%PDF-1.7".utf8)) == nil)

        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 7, count: 5000)
        let sequence = ImagePreview.kittySequence(png: png, columns: 80, rows: 23)
        let chunks = sequence.components(separatedBy: "\u{1B}\\").filter { !$0.isEmpty }
        #expect(chunks.count == 2, "6,680 base64 bytes: two chunks of at most 4,096")
        #expect(chunks[0].hasPrefix("\u{1B}_Ga=T,f=100,q=2,c=80,r=23,m=1;") && chunks[1].hasPrefix("\u{1B}_Gm=0;"))
        let payload = chunks.map { String($0[$0.index(after: $0.firstIndex(of: ";")!)...]) }.joined()
        #expect(Data(base64Encoded: payload) == png)

        let directory = makeDirectory()
        let path = directory + "/photo.png"
        try png.write(to: URL(fileURLWithPath: path))
        #expect(ImagePreview.sequence(for: path, graphics: nil, columns: 80, rows: 23) == .failure(.noGraphics))
        #expect(ImagePreview.looksLikePicture("Sunset.JPG") && !ImagePreview.looksLikePicture("report.pdf"))
        #expect(try ImagePreview.sequence(for: path, graphics: .kitty, columns: 80, rows: 23).get() == sequence)
        let pdf = directory + "/report.pdf"
        try Data("%PDF-1.7".utf8).write(to: URL(fileURLWithPath: pdf))
        #expect(ImagePreview.sequence(for: pdf, graphics: .kitty, columns: 80, rows: 23) == .failure(.notAnImage))
        // A real 4x4 red PNG, drawn as sixel by img2sixel (CI installs it): a DCS "q" sequence.
        let red = directory + "/red.png"
        try Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGP4z8AARwzEcQCukw/x0F8jngAAAABJRU5ErkJggg==")!
            .write(to: URL(fileURLWithPath: red))
        if ImagePreview.executable(named: "img2sixel") != nil {
            let sixel = try ImagePreview.sequence(for: red, graphics: .sixel, columns: 80, rows: 23).get()
            #expect(sixel.hasPrefix("\u{1B}P") && sixel.contains("q") && sixel.hasSuffix("\u{1B}\\"), "\(sixel.debugDescription)")
        } else {
            let jpeg = directory + "/photo.jpg"
            try Data([0xFF, 0xD8, 0xFF, 0xE0]).write(to: URL(fileURLWithPath: jpeg))
            #expect(ImagePreview.sequence(for: jpeg, graphics: .kitty, columns: 80, rows: 23) == .failure(.needsConverter(.jpeg)))
        }
    }

    @Test func viewShowsTheNewestPictureOnAnEmptyScreenUntilAKey() {
        var state = GroupUITests.groupState
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/view").isEmpty && state.notice?.hasPrefix("/view shows") == true)
        state.conversation.append(MessageRecord(localID: 7, id: "t7", chat: "#team", from: "bob", to: "#team", text: "", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(400),
                                                attachment: Attachment(blob: "c", name: "report.pdf", size: 1000, sha256: "", state: .downloaded,
                                                                       localPath: "/profile/files/c/report.pdf")))
        state.conversation.append(MessageRecord(localID: 6, id: "t6", chat: "#team", from: "bob", to: "#team", text: "", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(300),
                                                attachment: Attachment(blob: "b", name: "sunset.png", size: 1000, sha256: "", state: .downloaded,
                                                                       localPath: "/profile/files/b/sunset.png")))
        #expect(run("/view") == [.preview(path: "/profile/files/b/sunset.png", name: "sunset.png")])
        _ = Reducer.reduce(&state, .previewShown(name: "sunset.png"))
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default)
        #expect((0..<23).allSatisfy { screen.row($0).trimmingCharacters(in: .whitespaces).isEmpty }, "\(screen.text)")
        #expect(screen.row(23).contains("sunset.png · any key returns"))
        #expect(Reducer.reduce(&state, .key(.character("x"))) == [.closePreview])
        #expect(state.overlay == .none && state.editor.text.isEmpty, "the key only closes it")
    }

    private func makeDirectory() -> String {
        let path = NSTemporaryDirectory() + "/parla-preview-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
