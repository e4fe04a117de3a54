import Foundation
import ParlaClient
@testable import ParlaTUI
import Synchronization
import Testing

/// Pictures inside the conversation: the box the renderer keeps, what the terminal layer
/// writes over it for kitty and for sixel as the screen changes, and the sizes behind both.
@Suite struct InlinePicturesTests {
    static let support = InlinePictureSupport(extensions: ["png", "jpg"], maxBytes: 10 << 20)

    static func pictureState(name: String = "sunset.png", state fileState: AttachmentState = .downloaded) -> AppState {
        var state = GroupUITests.groupState
        state.conversation.append(MessageRecord(localID: 6, id: "t6", chat: "#team", from: "bob", to: "#team", text: "look", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(300),
                                                attachment: Attachment(blob: "b", name: name, size: 180_000, sha256: "", state: fileState,
                                                                       localPath: "/profile/files/\(name)")))
        return state
    }

    @Test func aDownloadedPictureKeepsABoxUnderItsLineAndOnlyAWholeBoxIsDrawn() throws {
        let renderer = Renderer(timeZone: Fixture.utc, inlinePictures: Self.support)
        let screen = renderer.render(Self.pictureState(), width: 100, height: 30, theme: .default)
        let rows = (0..<30).map(screen.row)
        let label = try #require(rows.firstIndex { $0.contains("bob   📎 sunset.png · 176 KiB") }, "\(rows)")
        #expect(rows[label + 1].contains("look") && rows[label + 2].contains("📷 picture"))
        // 30 rows: a pane of 26 rows inside its border; a third of it is 8 (the most), 4 columns a row.
        #expect(screen.pictures == [PicturePlacement(x: 37, y: label + 2, columns: 32, rows: 8, path: "/profile/files/sunset.png")])
        #expect(rows[label + 2].dropFirst(37).hasPrefix("📷 picture"), "the box starts where the text does")
        try assertSnapshot(screen, named: "picture")

        // Not yet downloaded, not a picture, a file the terminal cannot draw, no graphics at all: no box.
        for state in [Self.pictureState(state: .pending), Self.pictureState(name: "report.pdf"), Self.pictureState(name: "anim.gif")] {
            #expect(renderer.render(state, width: 100, height: 30, theme: .default).pictures.isEmpty)
        }
        let plain = Renderer(timeZone: Fixture.utc).render(Self.pictureState(), width: 100, height: 30, theme: .default)
        #expect(plain.pictures.isEmpty && !plain.text.contains("📷"))
        var undrawable = Self.pictureState()
        _ = Reducer.reduce(&undrawable, .pictureUndrawable(path: "/profile/files/sunset.png"))
        let back = renderer.render(undrawable, width: 100, height: 30, theme: .default)
        #expect(back.pictures.isEmpty && !back.text.contains("📷") && back.text.contains("📎 sunset.png"), "a box it cannot fill goes")

        // Own pictures show from the file that was sent, even while it uploads.
        var own = Self.pictureState(state: .uploading)
        own.conversation[5].from = "alice"
        #expect(renderer.render(own, width: 100, height: 30, theme: .default).pictures.count == 1)

        // Scrolled so the box is cut by the pane's top: kept blank, not drawn half.
        var scrolled = Self.pictureState()
        scrolled.conversation += (7...30).map { n in
            MessageRecord(localID: Int64(n), id: "t\(n)", chat: "#team", from: "carol", to: "#team", text: "line \(n)", status: .received,
                          failureReason: nil, sentAt: Fixture.base.addingTimeInterval(400))
        }
        let cut = (0...30).map { back in
            var state = scrolled
            state.scrollBack = back
            return renderer.render(state, width: 100, height: 30, theme: .default).pictures.count
        }
        #expect(cut.contains(0) && cut.contains(1))
        for back in 0...30 {
            var state = scrolled
            state.scrollBack = back
            let screen = renderer.render(state, width: 100, height: 30, theme: .default)
            for picture in screen.pictures {
                #expect(picture.y >= 1 && picture.y + picture.rows <= 27, "inside the pane at scroll \(back)")
            }
        }

        // The help overlay covers it: no picture is drawn over the help.
        var help = Self.pictureState()
        help.overlay = .help
        #expect(renderer.render(help, width: 100, height: 30, theme: .default).pictures.isEmpty)
    }

    /// A terminal layer whose pictures are made ready by the test, not by reading files.
    final class Harness: Sendable {
        final class Readies: Sendable {
            let list = Mutex<[String?]>([])
        }
        let recorded = Readies()
        let pictures: InlinePictures

        init(_ graphics: ImagePreview.Graphics, undrawable: Set<String> = []) {
            let readies = recorded
            pictures = InlinePictures(graphics: graphics, cell: (10, 20), prepare: { path, box, _, _ in
                undrawable.contains(path) ? nil : InlinePictures.PreparedPicture(data: Data("<\(path)>".utf8), columns: box.columns - 1, rows: box.rows)
            }, ready: { path in readies.list.withLock { $0.append(path) } })
        }

        func waitForReady(_ count: Int) async throws {
            for _ in 0..<500 where recorded.list.withLock({ $0.count }) < count { try await Task.sleep(for: .milliseconds(5)) }
            #expect(recorded.list.withLock { $0.count } == count)
        }
    }

    static let a = PicturePlacement(x: 45, y: 10, columns: 24, rows: 6, path: "/a.png")
    static let b = PicturePlacement(x: 45, y: 2, columns: 24, rows: 6, path: "/b.png")

    @Test func kittyGetsEachPictureOnceAndPlacesItAgainWhereItMoves() async throws {
        let harness = Harness(.kitty)
        let pictures = harness.pictures
        #expect(pictures.update([Self.a], screenCleared: false) == .init(), "nothing to draw until it is ready")
        try await harness.waitForReady(1)
        let first = pictures.update([Self.a], screenCleared: false)
        let sent = "\u{1B}_Ga=t,f=100,i=1000,q=2,m=0;" + Data("</a.png>".utf8).base64EncodedString() + "\u{1B}\\"
        let placeA = "\u{1B}[11;46H\u{1B}_Ga=p,i=1000,c=23,r=6,C=1,q=2\u{1B}\\"
        #expect(first == .init(repaintFirst: false, output: sent + placeA))
        #expect(pictures.update([Self.a], screenCleared: false) == .init(), "unchanged: nothing written")

        // It moves up as a message arrives: placements off, placed again, not sent again.
        let moved = PicturePlacement(x: 45, y: 7, columns: 24, rows: 6, path: "/a.png")
        #expect(pictures.update([moved], screenCleared: false).output
            == "\u{1B}_Ga=d,d=a,q=2\u{1B}\\" + "\u{1B}[8;46H\u{1B}_Ga=p,i=1000,c=23,r=6,C=1,q=2\u{1B}\\")
        // A second picture comes on screen: only it is written (once it is ready).
        _ = pictures.update([moved, Self.b], screenCleared: false)
        try await harness.waitForReady(2)
        let second = pictures.update([moved, Self.b], screenCleared: false).output
        #expect(second.hasPrefix("\u{1B}_Ga=t,f=100,i=1001") && second.hasSuffix("\u{1B}[3;46H\u{1B}_Ga=p,i=1001,c=23,r=6,C=1,q=2\u{1B}\\"))
        #expect(!second.contains("a=d"))
        // Ctrl-L or a resize: everything placed again.
        let again = pictures.update([moved, Self.b], screenCleared: true).output
        #expect(again.hasPrefix("\u{1B}_Ga=d,d=a,q=2\u{1B}\\") && again.components(separatedBy: "a=p,").count == 3 && !again.contains("a=t"))
        // Scrolled off, or covered by an overlay: taken off.
        #expect(pictures.update([], screenCleared: false) == .init(repaintFirst: false, output: "\u{1B}_Ga=d,d=a,q=2\u{1B}\\"))
        #expect(pictures.shown.isEmpty)
    }

    @Test func sixelRepaintsTheScreenOnlyWhenAPictureMovesOrGoes() async throws {
        let harness = Harness(.sixel, undrawable: ["/broken.png"])
        let pictures = harness.pictures
        _ = pictures.update([Self.a], screenCleared: false)
        try await harness.waitForReady(1)
        #expect(pictures.update([Self.a], screenCleared: false) == .init(repaintFirst: false, output: "\u{1B}[11;46H</a.png>"))
        #expect(pictures.update([Self.a, Self.b], screenCleared: false) == .init(), "b is not ready yet")
        try await harness.waitForReady(2)
        #expect(pictures.update([Self.a, Self.b], screenCleared: false) == .init(repaintFirst: false, output: "\u{1B}[3;46H</b.png>"),
                "a new picture beside one that stays: no repaint")
        // b goes: the screen is repainted (its pixels would stay) and a drawn again.
        #expect(pictures.update([Self.a], screenCleared: false) == .init(repaintFirst: true, output: "\u{1B}[11;46H</a.png>"))
        // A picture that cannot be drawn is reported once and never written.
        let broken = PicturePlacement(x: 45, y: 2, columns: 24, rows: 6, path: "/broken.png")
        _ = pictures.update([Self.a, broken], screenCleared: false)
        try await harness.waitForReady(3)
        #expect(harness.recorded.list.withLock { $0.last } == .some("/broken.png"))
        #expect(pictures.update([Self.a, broken], screenCleared: false) == .init())
    }

    @Test func sizesComeFromTheHeadersAndPicturesKeepTheirShape() throws {
        let png = Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGP4z8AARwzEcQCukw/x0F8jngAAAABJRU5ErkJggg==")!
        #expect(ImagePreview.pixelSize(of: png).map { [$0.width, $0.height] } == [4, 4])
        #expect(ImagePreview.pixelSize(of: Data("GIF89a".utf8) + Data([0x40, 0x01, 0xF0, 0x00])).map { [$0.width, $0.height] } == [320, 240])
        // JPEG: SOI, an APP0 segment, then SOF0 with height 480 and width 640.
        let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03, 0x01, 0x22, 0x00])
        #expect(ImagePreview.pixelSize(of: jpeg).map { [$0.width, $0.height] } == [640, 480])
        var webp = Data("RIFF\0\0\0\0WEBPVP8X".utf8) + Data(repeating: 0, count: 8)
        webp += Data([0x7F, 0x07, 0x00, 0x37, 0x04, 0x00]) // 1920 x 1080, less one each
        #expect(ImagePreview.pixelSize(of: webp).map { [$0.width, $0.height] } == [1920, 1080])
        #expect(ImagePreview.pixelSize(of: Data("%PDF".utf8)) == nil && ImagePreview.pixelSize(of: Data([0x89, 0x50])) == nil)

        let cell = (width: 10, height: 20)
        let box = (columns: 24, rows: 6)
        #expect([ImagePreview.fit(pixels: (1920, 600), cell: cell, box: box)].map { [$0.columns, $0.rows] } == [[24, 4]], "wide: fills the width")
        #expect([ImagePreview.fit(pixels: (1920, 1080), cell: cell, box: box)].map { [$0.columns, $0.rows] } == [[22, 6]], "16:9 here: the height")
        #expect([ImagePreview.fit(pixels: (1080, 1920), cell: cell, box: box)].map { [$0.columns, $0.rows] } == [[7, 6]], "tall: fills the height")
        #expect([ImagePreview.fit(pixels: (4, 4), cell: cell, box: box)].map { [$0.columns, $0.rows] } == [[1, 1]], "never drawn larger")

        #expect(TerminalProbe.parseCellSize(Array("\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[6;20;10t\u{1B}[?62;4c".utf8)).map { [$0.width, $0.height] } == [10, 20])
        #expect(TerminalProbe.parseCellSize(Array("\u{1B}[?62;4c".utf8)) == nil, "a terminal that does not say")
    }

    @Test func aRealPictureIsShrunkToItsCellsForSixelAndSentAsPNGToKitty() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parla-pictures-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let red = directory + "/red.png"
        try Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGP4z8AARwzEcQCukw/x0F8jngAAAABJRU5ErkJggg==")!
            .write(to: URL(fileURLWithPath: red))
        let kitty = try #require(InlinePictures.prepareFromFile(path: red, box: (24, 6), graphics: .kitty, cell: (10, 20)))
        #expect(ImagePreview.format(of: kitty.data) == .png && kitty.columns == 1 && kitty.rows == 1)
        if ImagePreview.executable(named: "img2sixel") != nil {
            let sixel = try #require(InlinePictures.prepareFromFile(path: red, box: (24, 6), graphics: .sixel, cell: (10, 20)))
            let text = String(decoding: sixel.data, as: UTF8.self)
            #expect(text.hasPrefix("\u{1B}P") && text.hasSuffix("\u{1B}\\"))
            // Raster attributes: 10 x 18 pixels, one cell less the band that would spill over.
            #expect(text.contains("\"1;1;10;18"), "\(text.prefix(40).debugDescription)")
        }
        let text = directory + "/notes.png"
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: text))
        #expect(InlinePictures.prepareFromFile(path: text, box: (24, 6), graphics: .kitty, cell: (10, 20)) == nil)
        #expect(InlinePictures.prepareFromFile(path: directory + "/gone.png", box: (24, 6), graphics: .sixel, cell: (10, 20)) == nil)
    }
}
