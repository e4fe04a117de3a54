import Foundation
import ParlaProtocol

/// What a message announcing an attachment carries inside the encryption: the blob on the
/// relay, the key that opens it, and what the recipient checks the result against.
struct FileOffer: Codable, Equatable, Sendable {
    var blob: String
    var name: String
    /// Plaintext bytes.
    var size: Int
    var sha256: String
    var key: Data
    var caption: String?
    /// A text too long for one message, sent as this file: shown as the message once downloaded.
    var longText: Bool?

    var isWellFormed: Bool {
        BlobLimits.isValidBlobID(blob) && (0...BlobLimits.maxFileBytes).contains(size) && key.count == 32
            && sha256.utf8.count == 64 && sha256.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    var chunks: Int { BlobLimits.sealedLayout(plaintextBytes: size).chunks }

    /// A name from another computer made safe to create here: no directories, no control
    /// characters, no leading dot, at most 200 bytes; "file" when nothing is left.
    static func safeName(_ name: String) -> String {
        var cleaned = String(name.unicodeScalars.filter { $0 != "/" && $0 != "\\" && $0.properties.generalCategory != .control && $0 != "\u{0}" }
            .map(Character.init))
        while cleaned.hasPrefix(".") || cleaned.hasPrefix(" ") { cleaned.removeFirst() }
        while cleaned.utf8.count > 200 { cleaned.removeLast() }
        return cleaned.trimmingCharacters(in: .whitespaces).isEmpty ? "file" : cleaned
    }
}
