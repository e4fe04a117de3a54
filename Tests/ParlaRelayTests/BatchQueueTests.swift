import Testing

@testable import ParlaRelay

/// The queue between a session and its writer: nothing lost or reordered, everything waiting
/// taken at once, and a cancelled writer never left hanging.
@Suite struct BatchQueueTests {
    @Test func theConsumerTakesEverythingQueuedInOrder() async {
        let queue = BatchQueue<Int>()
        for n in 1...5 { queue.yield(n) }
        #expect(await queue.next() == [1, 2, 3, 4, 5])
        queue.yield(6)
        queue.finish()
        queue.yield(7)
        // Finished: what was queued before still arrives, then nil; later items are ignored.
        #expect(await queue.next() == [6])
        #expect(await queue.next() == nil)
    }

    @Test func aWaitingConsumerWakesForOneItemAndForFinish() async {
        let queue = BatchQueue<String>()
        async let first = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.yield("a")
        #expect(await first == ["a"])
        async let second = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.finish()
        #expect(await second == nil)
    }

    @Test func aCancelledConsumerStops() async {
        let queue = BatchQueue<Int>()
        let consumer = Task { await queue.next() }
        try? await Task.sleep(for: .milliseconds(20))
        consumer.cancel()
        #expect(await consumer.value == nil)
        queue.yield(1)
        #expect(await queue.next() == nil)
    }

    @Test func manyProducersLoseNothing() async {
        let queue = BatchQueue<Int>()
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<8 {
                group.addTask { for n in 0..<1000 { queue.yield(producer * 1000 + n) } }
            }
            group.addTask {
                var seen: [Int] = []
                while seen.count < 8000, let batch = await queue.next() { seen += batch }
                #expect(Set(seen).count == 8000)
                // Each producer's items stay in their order.
                for producer in 0..<8 {
                    let mine = seen.filter { $0 / 1000 == producer }
                    #expect(mine == mine.sorted())
                }
            }
        }
    }
}
