import Foundation
import Testing

@testable import ParlaRelay

/// A receipt is stored as its message ids, one per line, and read back into a `receipt` frame
/// for every confirmation a sender is sent: the ids must come back exactly, in order.
@Suite struct StoredReceiptTests {
    @Test func storedReceiptIdsComeBackInOrderWithoutEmptyLines() {
        let bodies = ["", "m-1", "m-1\nm-2", "\n\na\n\nb\n", "1:2:3\nzoë\n日本-🙂", String(repeating: "x", count: 300)]
        for body in bodies {
            let expected = body.split(separator: "\n").map(String.init)
            #expect(Session.lines(of: Data(body.utf8)) == expected, "\(body.debugDescription)")
        }
        let many = (0..<256).map { "\($0):m" }
        #expect(Session.lines(of: Data(many.joined(separator: "\n").utf8)) == many)
        #expect(Session.lines(of: Data("a\nb".utf8).dropFirst(2)) == ["b"], "a slice of a larger buffer")
    }

    @Test func aStoredReceiptBecomesAReceiptFrame() {
        let item = MailboxItem(seq: 7, id: "r-1", sender: "bob", kind: .read, body: Data("m-1\nm-2".utf8), acceptedAt: 42, group: nil)
        #expect(Session.frame(for: item) == .receipt(.init(id: "r-1", kind: .read, from: "bob", messageIds: ["m-1", "m-2"], at: 42)))
    }
}
