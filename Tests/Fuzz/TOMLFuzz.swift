import Foundation

/// libFuzzer target: any config.toml or theme a user (or a download) can put in place. The
/// reader either gives a table or a `TOMLError` with a line; it never crashes or hangs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTOML(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    do {
        _ = try TOMLDocument.parse(text, file: "fuzz.toml")
    } catch {
        guard error.line >= 0 else { fatalError("an error without a line: \(error)") }
    }
    return 0
}
