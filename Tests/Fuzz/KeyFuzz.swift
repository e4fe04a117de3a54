import Foundation

/// libFuzzer target: any bytes a terminal (or a paste, or a peer's text echoed back) can deliver,
/// split into batches as reads split them. The decoder never crashes, and a paste never ends up
/// holding more characters than came in.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeys(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: count)
    var decoder = KeyDecoder()
    var batch: [RawInput] = []
    var characters = 0
    var pasted = 0
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        index += 1
        switch byte {
        case 0xF0:
            // End of a read: what came so far is one batch.
            for key in decoder.decode(batch) { if case .paste(let text) = key { pasted += text.unicodeScalars.count } }
            batch.removeAll()
        case 0xF1 where index < bytes.count:
            // A key code ncurses recognised (KEY_MIN 0401 and up), with a terminfo name or none.
            let code = 0o401 + Int32(bytes[index])
            index += 1
            batch.append(.keyCode(code, name: ["", "kUP3", "kDN5", "kLFT3", "kRIT5", "kHOM5", "kEND3", "kDC3"][Int(code) % 8]))
        case 0xF2 where index < bytes.count:
            batch.append(.wheel(Int(Int8(bitPattern: bytes[index]))))
            index += 1
        case 0xF3 where index + 2 < bytes.count:
            // A character beyond one byte (CJK, emoji, or no scalar at all).
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            index += 3
            batch.append(.character(value))
            characters += 1
        default:
            batch.append(.character(UInt32(byte)))
            characters += 1
        }
    }
    for key in decoder.decode(batch) { if case .paste(let text) = key { pasted += text.unicodeScalars.count } }
    guard pasted <= characters else { fatalError("pastes hold \(pasted) characters of \(characters) read") }
    return 0
}
