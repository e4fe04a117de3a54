import Foundation

/// libFuzzer target: every body a relay can deliver. The envelope parser and the padding never
/// crash and what parses re-encodes to the same envelope; decrypted-content parsing (as it
/// runs on a plaintext of any shape) never crashes and round-trips.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: start, count: count))
    if let envelope = try? Envelope(decoding: bytes) {
        guard let again = try? Envelope(decoding: envelope.encoded), again == envelope else {
            fatalError("envelope does not survive re-encoding: \(bytes.base64EncodedString())")
        }
    }
    if let unpadded = try? Padding.unpad(bytes) {
        guard unpadded.count < bytes.count else { fatalError("unpadding grew or kept the data") }
    }
    if let content = MessageContent(decoding: bytes) {
        guard MessageContent(decoding: content.encoded) == content else {
            fatalError("message content does not survive re-encoding: \(bytes.base64EncodedString())")
        }
    }
    return 0
}
