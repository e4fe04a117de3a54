import Foundation

/// Images shown with the terminal's own graphics, where it has them: the kitty graphics
/// protocol (PNG sent as it is) or sixel (drawn by `img2sixel`, from libsixel, when
/// installed). Which one the terminal speaks is asked at start-up (`TerminalProbe.graphics`).
public enum ImagePreview {
    public enum Graphics: String, Sendable, Equatable {
        case kitty, sixel
    }

    public enum Format: String, Sendable, Equatable {
        case png, jpeg, gif, webp
    }

    /// The image format by its first bytes (names lie; magic numbers rarely do).
    public static func format(of prefix: Data) -> Format? {
        let bytes = [UInt8](prefix.prefix(12))
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: Array("GIF8".utf8)) { return .gif }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) { return .webp }
        return nil
    }

    /// Whether a file's name says it is a picture (the bytes decide when it is shown).
    public static func looksLikePicture(_ name: String) -> Bool {
        ["png", "jpg", "jpeg", "gif", "webp"].contains((name as NSString).pathExtension.lowercased())
    }

    /// A PNG for kitty, scaled to `columns` x `rows` cells, in chunks of 4096 base64 bytes
    /// (the protocol's limit), with the terminal's replies turned off (`q=2`).
    public static func kittySequence(png: Data, columns: Int, rows: Int) -> String {
        kittySequence(png: png, control: "a=T,f=100,q=2,c=\(columns),r=\(rows)")
    }

    /// A PNG sent to kitty with `control` on its first chunk (e.g. `a=t,i=7` to keep it for
    /// placing later).
    static func kittySequence(png: Data, control firstControl: String) -> String {
        let encoded = png.base64EncodedString()
        var result = ""
        var start = encoded.startIndex
        var first = true
        repeat {
            let end = encoded.index(start, offsetBy: 4096, limitedBy: encoded.endIndex) ?? encoded.endIndex
            let more = end < encoded.endIndex ? 1 : 0
            let control = first ? "\(firstControl),m=\(more)" : "m=\(more)"
            result += "\u{1B}_G" + control + ";" + encoded[start..<end] + "\u{1B}\\"
            start = end
            first = false
        } while start < encoded.endIndex
        return result
    }

    /// Removes every image kitty shows (so the text screen comes back whole).
    public static let kittyClear = "\u{1B}_Ga=d,q=2\u{1B}\\"

    /// What to write to show the image at `path` in `columns` x `rows` cells, or why not.
    public static func sequence(for path: String, graphics: Graphics?, columns: Int, rows: Int) -> Result<String, PreviewError> {
        guard let handle = FileHandle(forReadingAtPath: path), let prefix = try? handle.read(upToCount: 12) else { return .failure(.unreadable) }
        try? handle.close()
        guard let format = format(of: prefix) else { return .failure(.notAnImage) }
        guard let graphics else { return .failure(.noGraphics) }
        switch graphics {
        case .kitty:
            return pngData(path, format: format).map { kittySequence(png: $0, columns: columns, rows: rows) }
        case .sixel:
            guard let converter = executable(named: "img2sixel") else { return .failure(.needsConverter(format)) }
            // About 10 pixels a column: the picture fills the width without spilling over.
            guard let output = run(converter, ["-w", "\(columns * 10)", path]) else { return .failure(.unreadable) }
            return .success(output)
        }
    }

    /// The picture as PNG, which is all kitty takes: as it is, or converted by ImageMagick.
    static func pngData(_ path: String, format: Format) -> Result<Data, PreviewError> {
        if format == .png {
            guard let data = FileManager.default.contents(atPath: path) else { return .failure(.unreadable) }
            return .success(data)
        }
        guard let converter = executable(named: "convert") else { return .failure(.needsPNGConverter(format)) }
        guard let output = runData(converter, [path + "[0]", "png:-"]), Self.format(of: output) == .png else { return .failure(.unreadable) }
        return .success(output)
    }

    /// Width and height in pixels, read from the header of a PNG, GIF, JPEG or WebP.
    public static func pixelSize(of data: Data) -> (width: Int, height: Int)? {
        let b = [UInt8](data)
        func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        func le16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func le24(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 }
        func positive(_ w: Int, _ h: Int) -> (width: Int, height: Int)? { w > 0 && h > 0 ? (w, h) : nil }
        switch format(of: data) {
        case .png:
            guard b.count >= 24 else { return nil }
            return positive(be16(16) << 16 | be16(18), be16(20) << 16 | be16(22))
        case .gif:
            guard b.count >= 10 else { return nil }
            return positive(le16(6), le16(8))
        case .jpeg:
            // Segments up to the frame header (SOFn, not DHT/JPG/DAC), which holds the size.
            var i = 2
            while i + 9 < b.count {
                guard b[i] == 0xFF else { return nil }
                let marker = b[i + 1]
                if marker == 0xFF { i += 1; continue }
                if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                    return positive(be16(i + 7), be16(i + 5))
                }
                if marker == 0xD8 || (0xD0...0xD7).contains(marker) { i += 2; continue }
                i += 2 + be16(i + 2)
            }
            return nil
        case .webp:
            guard b.count >= 30 else { return nil }
            switch String(decoding: b[12..<16], as: UTF8.self) {
            case "VP8X": return positive(le24(24) + 1, le24(27) + 1)
            case "VP8L":
                let bits = Int(b[21]) | Int(b[22]) << 8 | Int(b[23]) << 16 | Int(b[24]) << 24
                return positive((bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1)
            case "VP8 ": return positive(le16(26) & 0x3FFF, le16(28) & 0x3FFF)
            default: return nil
            }
        case nil:
            return nil
        }
    }

    /// How many cells a picture of `pixels` takes inside a `box` of cells, keeping its shape
    /// and never drawn larger than it is.
    public static func fit(pixels: (width: Int, height: Int), cell: (width: Int, height: Int), box: (columns: Int, rows: Int)) -> (columns: Int, rows: Int) {
        let scale = min(1, Double(box.columns * cell.width) / Double(pixels.width), Double(box.rows * cell.height) / Double(pixels.height))
        let columns = Int((Double(pixels.width) * scale / Double(cell.width)).rounded(.up))
        let rows = Int((Double(pixels.height) * scale / Double(cell.height)).rounded(.up))
        return (min(box.columns, max(1, columns)), min(box.rows, max(1, rows)))
    }

    public enum PreviewError: Error, Equatable, CustomStringConvertible {
        case noGraphics, unreadable, notAnImage
        case needsConverter(Format)
        case needsPNGConverter(Format)

        public var description: String {
            switch self {
            case .noGraphics: "this terminal shows no pictures (it answered neither kitty graphics nor sixel); /save it and open it"
            case .unreadable: "the file cannot be read"
            case .notAnImage: "not a picture (PNG, JPEG, GIF or WebP)"
            case .needsConverter(let format): "showing a \(format.rawValue.uppercased()) here needs img2sixel (Debian: apt install libsixel-bin)"
            case .needsPNGConverter(let format): "kitty shows PNG; a \(format.rawValue.uppercased()) needs ImageMagick's convert (Debian: apt install imagemagick)"
            }
        }
    }

    static func executable(named name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func run(_ executable: String, _ arguments: [String]) -> String? {
        runData(executable, arguments).map { String(decoding: $0, as: UTF8.self) }
    }

    static func runData(_ executable: String, _ arguments: [String]) -> Data? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? data : nil
    }
}
