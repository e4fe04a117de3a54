import Foundation
import Testing

@testable import ParlaRelay

/// The live route trusts the filter's "no": a key once inserted must always be found, and a
/// fresh key must rarely look taken (each false "maybe" costs a message a database read).
@Suite struct AcceptedKeyFilterTests {
    private func randomKeys(_ count: Int) -> [Data] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            var key = Data(count: 16)
            key.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: generator.next() as UInt64, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: generator.next() as UInt64, toByteOffset: 8, as: UInt64.self)
            }
            return key
        }
    }

    @Test func everyInsertedKeyIsFoundAndFreshKeysRarelyLookTaken() {
        let filter = AcceptedKeyFilter()
        let taken = randomKeys(200_000)
        for key in taken { filter.insert(key) }
        #expect(taken.allSatisfy(filter.mightContain))
        let falsePositives = randomKeys(200_000).filter(filter.mightContain).count
        #expect(falsePositives < 200, "\(falsePositives) of 200,000 fresh keys looked taken")
    }

    @Test func realKeysSpreadOverTheFilter() {
        let filter = AcceptedKeyFilter()
        for index in 0..<100_000 { filter.insert(SQLiteMailboxStore.acceptedKey(sender: "alice", id: "m-\(index)")) }
        let fresh = (0..<100_000).filter { filter.mightContain(SQLiteMailboxStore.acceptedKey(sender: "bob", id: "m-\($0)")) }.count
        #expect(fresh < 100, "\(fresh) of 100,000 fresh keys looked taken")
    }
}
