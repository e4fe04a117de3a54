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
        let encoded = png.base64EncodedString()
        var result = ""
        var start = encoded.startIndex
        var first = true
        repeat {
            let end = encoded.index(start, offsetBy: 4096, limitedBy: encoded.endIndex) ?? encoded.endIndex
            let more = end < encoded.endIndex ? 1 : 0
            let control = first ? "a=T,f=100,q=2,c=\(columns),r=\(rows),m=\(more)" : "m=\(more)"
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
        case .kitty where format == .png:
            guard let data = FileManager.default.contents(atPath: path) else { return .failure(.unreadable) }
            return .success(kittySequence(png: data, columns: columns, rows: rows))
        case .kitty, .sixel:
            guard let converter = executable(named: "img2sixel") else { return .failure(.needsConverter(format)) }
            // About 10 pixels a column: the picture fills the width without spilling over.
            guard let output = run(converter, ["-w", "\(columns * 10)", path]) else { return .failure(.unreadable) }
            return .success(output)
        }
    }

    public enum PreviewError: Error, Equatable, CustomStringConvertible {
        case noGraphics, unreadable, notAnImage
        case needsConverter(Format)

        public var description: String {
            switch self {
            case .noGraphics: "this terminal shows no pictures (it answered neither kitty graphics nor sixel); /save it and open it"
            case .unreadable: "the file cannot be read"
            case .notAnImage: "not a picture (PNG, JPEG, GIF or WebP)"
            case .needsConverter(let format): "showing a \(format.rawValue.uppercased()) here needs img2sixel (Debian: apt install libsixel-bin)"
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

    private static func run(_ executable: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }
}
