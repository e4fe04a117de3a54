import Foundation
import Synchronization

/// Draws the pictures a frame keeps boxes for (`ScreenBuffer.pictures`) over those boxes.
/// ncurses does not know they are there, so this remembers what is on screen and writes only
/// when that changes. kitty keeps a picture once sent and places it again cheaply; sixel
/// pixels belong to the cells, so a picture that moves or goes means repainting the screen
/// first (ncurses would leave the old pixels under cells it believes are blank).
/// Pictures are made ready (read, shrunk, encoded) off the UI thread; `ready` is called
/// when one is, so the UI draws again.
final class InlinePictures: Sendable {
    /// What to do after ncurses' update: repaint everything first (sixel), then write `output`.
    struct Update: Equatable {
        var repaintFirst = false
        var output = ""
    }

    private struct Key: Hashable {
        var path: String
        var columns: Int
        var rows: Int
    }

    private enum Prepared {
        /// A kitty image id, the sequence that sends it, and the cells it takes.
        case kitty(id: Int, transmit: String, columns: Int, rows: Int)
        case sixel(String)
        case undrawable
    }

    private struct State {
        var prepared: [Key: Prepared] = [:]
        var preparing: Set<Key> = []
        var shown: [PicturePlacement] = []
        var sentToKitty: Set<Int> = []
        var nextID = 1_000
    }

    let graphics: ImagePreview.Graphics
    /// One cell in pixels (10x20 when the terminal did not say).
    let cell: (width: Int, height: Int)
    private let state = Mutex(State())
    private let ready: @Sendable (_ undrawable: String?) -> Void
    private let prepare: @Sendable (_ path: String, _ box: (columns: Int, rows: Int), _ graphics: ImagePreview.Graphics, _ cell: (width: Int, height: Int)) -> PreparedPicture?

    /// A picture ready for the terminal: PNG for kitty or a sixel sequence, and the cells it takes.
    struct PreparedPicture: Sendable {
        var data: Data
        var columns: Int
        var rows: Int
    }

    /// `ready` gets the path of a picture that cannot be drawn, or nil when one can now.
    init(graphics: ImagePreview.Graphics, cell: (width: Int, height: Int)?,
         prepare: @escaping @Sendable (String, (columns: Int, rows: Int), ImagePreview.Graphics, (width: Int, height: Int)) -> PreparedPicture? = InlinePictures.prepareFromFile,
         ready: @escaping @Sendable (String?) -> Void) {
        self.graphics = graphics
        self.cell = cell ?? (10, 20)
        self.prepare = prepare
        self.ready = ready
    }

    /// What to write for `placements` now that ncurses has drawn the frame; `screenCleared`
    /// when it painted the whole screen afresh (Ctrl-L, a resize), which takes pictures away.
    func update(_ placements: [PicturePlacement], screenCleared: Bool) -> Update {
        let (update, toPrepare) = state.withLock { state -> (Update, [Key]) in
            var toPrepare: [Key] = []
            var drawable: [(PicturePlacement, Prepared)] = []
            for placement in placements {
                let key = Key(path: placement.path, columns: placement.columns, rows: placement.rows)
                switch state.prepared[key] {
                case .some(.undrawable): continue
                case .some(let prepared): drawable.append((placement, prepared))
                case nil:
                    if state.preparing.insert(key).inserted { toPrepare.append(key) }
                }
            }
            let now = drawable.map(\.0)
            defer { state.shown = now }
            guard now != state.shown || screenCleared else { return (Update(), toPrepare) }
            let gone = state.shown.contains { !now.contains($0) } && !screenCleared
            var update = Update()
            switch graphics {
            case .kitty:
                // Placements off (the images stay with kitty), then each placed again.
                if gone || screenCleared { update.output += "\u{1B}_Ga=d,d=a,q=2\u{1B}\\" }
                for (placement, prepared) in drawable {
                    guard case .kitty(let id, let transmit, let columns, let rows) = prepared else { continue }
                    guard gone || screenCleared || !state.shown.contains(placement) else { continue }
                    if state.sentToKitty.insert(id).inserted { update.output += transmit }
                    update.output += Self.cursor(placement) + "\u{1B}_Ga=p,i=\(id),c=\(columns),r=\(rows),C=1,q=2\u{1B}\\"
                }
            case .sixel:
                // After a resize the old pixels may still be there; a repaint takes them off.
                update.repaintFirst = gone || (screenCleared && !state.shown.isEmpty)
                for (placement, prepared) in drawable {
                    guard case .sixel(let sequence) = prepared else { continue }
                    guard update.repaintFirst || screenCleared || !state.shown.contains(placement) else { continue }
                    update.output += Self.cursor(placement) + sequence
                }
            }
            return (update, toPrepare)
        }
        for key in toPrepare { startPreparing(key) }
        return update
    }

    /// The pictures drawn, as last updated.
    var shown: [PicturePlacement] { state.withLock { $0.shown } }

    private static func cursor(_ placement: PicturePlacement) -> String {
        "\u{1B}[\(placement.y + 1);\(placement.x + 1)H"
    }

    private func startPreparing(_ key: Key) {
        let (graphics, cell, prepare) = (self.graphics, self.cell, self.prepare)
        Task.detached {
            let picture = prepare(key.path, (key.columns, key.rows), graphics, cell)
            let undrawable = self.state.withLock { state -> Bool in
                state.preparing.remove(key)
                guard let picture else {
                    state.prepared[key] = .undrawable
                    return true
                }
                switch graphics {
                case .kitty:
                    let id = state.nextID
                    state.nextID += 1
                    let transmit = ImagePreview.kittySequence(png: picture.data, control: "a=t,f=100,i=\(id),q=2")
                    state.prepared[key] = .kitty(id: id, transmit: transmit, columns: picture.columns, rows: picture.rows)
                case .sixel:
                    state.prepared[key] = .sixel(String(decoding: picture.data, as: UTF8.self))
                }
                return false
            }
            self.ready(undrawable ? key.path : nil)
        }
    }

    /// The largest PNG sent to kitty as it is (ImageMagick shrinks larger ones first).
    static let smallPNG = 2 << 20

    /// Reads the picture, fits it into the box keeping its shape, and makes what the terminal
    /// takes: a PNG (shrunk by ImageMagick when it is there) or img2sixel's output at exactly
    /// the pixels of the cells it covers.
    @Sendable static func prepareFromFile(path: String, box: (columns: Int, rows: Int), graphics: ImagePreview.Graphics,
                                          cell: (width: Int, height: Int)) -> PreparedPicture? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        let header = (try? handle.read(upToCount: 256 << 10)) ?? Data()
        try? handle.close()
        guard let format = ImagePreview.format(of: header), let pixels = ImagePreview.pixelSize(of: header) else { return nil }
        let cells = ImagePreview.fit(pixels: pixels, cell: cell, box: box)
        let width = cells.columns * cell.width
        // Sixel rows come in bands of six pixels: never one more band than the cells hold.
        let height = max(6, cells.rows * cell.height / 6 * 6)
        switch graphics {
        case .kitty:
            if let convert = ImagePreview.executable(named: "convert"),
               let png = ImagePreview.runData(convert, [path + "[0]", "-thumbnail", "\(width)x\(height)", "png:-"]),
               ImagePreview.format(of: png) == .png {
                return PreparedPicture(data: png, columns: cells.columns, rows: cells.rows)
            }
            // Without a converter kitty gets the PNG whole: only a small one.
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard format == .png, (size ?? .max) <= smallPNG, let png = FileManager.default.contents(atPath: path) else { return nil }
            return PreparedPicture(data: png, columns: cells.columns, rows: cells.rows)
        case .sixel:
            guard let converter = ImagePreview.executable(named: "img2sixel"),
                  let sixel = ImagePreview.runData(converter, ["-w", "\(width)", "-h", "\(height)", path]),
                  sixel.starts(with: Array("\u{1B}P".utf8)) else { return nil }
            return PreparedPicture(data: sixel, columns: cells.columns, rows: cells.rows)
        }
    }
}
