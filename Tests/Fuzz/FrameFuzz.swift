import Foundation

/// libFuzzer target: every text a peer can send as a frame. Decoding never crashes; the hot-path
/// decoder and the general one agree on every text either accepts; what decodes re-encodes to
/// a frame that decodes the same. A group statement the decoder accepts is checked as a change
/// without crashing.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrame(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    let fast = try? ClientFrame.decode(text)
    let general = try? ClientFrame.decodedByDecoder(text)
    if let fast, let general, fast != general {
        fatalError("hot and general client-frame decoders disagree on \(text.debugDescription): \(fast) vs \(general)")
    }
    if let frame = fast ?? general {
        guard let again = try? ClientFrame.decode(frame.encoded()), again == frame else {
            fatalError("client frame does not survive re-encoding: \(text.debugDescription)")
        }
    }
    if let relayFrame = try? RelayFrame.decodedByDecoder(text) {
        guard let again = try? RelayFrame.decode(relayFrame.encoded()), again == relayFrame else {
            fatalError("relay frame does not survive re-encoding: \(text.debugDescription)")
        }
    }
    let bytes = Data(UnsafeBufferPointer(start: start, count: count))
    if let statement = SignedGroupChange(statement: bytes, signature: Data()).decoded() {
        _ = GroupTransition.check(statement, follows: FuzzGroups.previous)
        _ = GroupTransition.check(statement, follows: nil)
    }
    return 0
}

enum FuzzGroups {
    static let previous = GroupStatement(
        group: "team", version: 1, action: .create, actor: "alice", subjects: ["bob"], title: "Team",
        members: [.init(name: "alice", key: Data(repeating: 1, count: 32)), .init(name: "bob", key: Data(repeating: 2, count: 32))],
        admins: ["alice"])
}
