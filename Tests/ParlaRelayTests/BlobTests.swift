import Foundation
import ParlaProtocol
@testable import ParlaRelay
import ParlaRelayTesting
import Testing

/// Files on the relay: only the uploader adds to one, only its recipients read it, it is
/// deleted when the last of them has it; progress survives a restart and a torn chunk.
@Suite(.serialized) struct BlobTests {
    let blob = String(repeating: "ab", count: 16)

    @Test func onlyRecipientsFetchAFileAndTheLastOneDeletesIt() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (alice, bob, carol, mallory) = (try await TestUser.register("alice", on: relay), try await TestUser.register("bob", on: relay),
                                           try await TestUser.register("carol", on: relay), try await TestUser.register("mallory", on: relay))
        let uploader = try await alice.connectIdle()
        let chunk = Data((0..<BlobLimits.chunkBytes).map { UInt8($0 & 0xFF) })
        let last = Data(repeating: 7, count: 100)
        uploader.send(.blobOpen(.init(blob: blob, size: chunk.count + last.count, chunks: 2, recipients: ["bob", "carol"])))
        #expect(try await uploader.next() == .blobStatus(.init(blob: blob, have: 0, chunks: 2)))
        uploader.send(.blobPut(.init(blob: blob, index: 0, data: chunk)))
        #expect(try await uploader.next() == .blobStatus(.init(blob: blob, have: 1, chunks: 2)))
        let reader = try await bob.connectIdle()
        reader.send(.blobGet(.init(blob: blob, index: 0, count: 2)))
        #expect(try await reader.expectError(.blobIncomplete).ref == blob, "not before the upload is whole")
        uploader.send(.blobPut(.init(blob: blob, index: 1, data: Data(repeating: 7, count: 99))))
        _ = try await uploader.expectError(.badFrame)
        uploader.send(.blobPut(.init(blob: blob, index: 1, data: last)))
        #expect(try await uploader.next() == .blobStatus(.init(blob: blob, have: 2, chunks: 2)))

        let stranger = try await mallory.connectIdle()
        stranger.send(.blobGet(.init(blob: blob, index: 0, count: 1)))
        _ = try await stranger.expectError(.unknownBlob)
        stranger.send(.blobPut(.init(blob: blob, index: 2, data: last)))
        _ = try await stranger.expectError(.unknownBlob)
        stranger.send(.blobDone(blob: blob))
        stranger.send(.blobGet(.init(blob: "not-hex", index: 0, count: 1)))
        _ = try await stranger.expectError(.badFrame)

        reader.send(.blobGet(.init(blob: blob, index: 0, count: 8)))
        #expect(try await reader.next() == .blobChunk(.init(blob: blob, index: 0, chunks: 2, data: chunk)))
        #expect(try await reader.next() == .blobChunk(.init(blob: blob, index: 1, chunks: 2, data: last)))
        reader.send(.blobDone(blob: blob))
        let third = try await carol.connectIdle()
        third.send(.blobGet(.init(blob: blob, index: 1, count: 1)))
        #expect(try await third.next() == .blobChunk(.init(blob: blob, index: 1, chunks: 2, data: last)), "mallory's done counted for nothing")
        third.send(.blobDone(blob: blob))
        #expect(try await waitUntil { await !relay.relay.blobs.contains(blob) }, "deleted after the last recipient")
        #expect(try FileManager.default.contentsOfDirectory(atPath: relay.dataDirectory + "/blobs").isEmpty)
        for client in [uploader, reader, stranger, third] { await client.close() }
    }

    @Test func aRestartedRelayResumesFromTheLastWholeChunk() async throws {
        let directory = makeTemporaryDirectory(prefix: "parla-blobstore")
        let layout = BlobLimits.sealedLayout(plaintextBytes: 5 * BlobLimits.chunkPlaintextBytes)
        let open = ClientFrame.BlobOpen(blob: blob, size: layout.bytes, chunks: layout.chunks, recipients: ["bob"])
        do {
            let store = try BlobStore(directory: directory, quotaBytes: 1 << 30, logger: .init(label: "test"))
            #expect(try await store.open(open, owner: "alice", now: 0).have == 0)
            for index in 0..<2 {
                _ = try await store.put(.init(blob: blob, index: index, data: Data(count: BlobLimits.chunkBytes)), owner: "alice")
            }
            await #expect(throws: BlobStore.Failure.self) {
                try await store.put(.init(blob: blob, index: 4, data: Data(count: BlobLimits.chunkBytes)), owner: "alice")
            }
        }
        // A crash in the middle of the third chunk.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/blobs/\(blob).data"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 1000))
        try handle.close()
        let reopened = try BlobStore(directory: directory, quotaBytes: 1 << 30, logger: .init(label: "test"))
        #expect(try await reopened.open(open, owner: "alice", now: 0).have == 2)
        await #expect(throws: BlobStore.Failure.self) { try await reopened.open(open, owner: "mallory", now: 0) }
        #expect(await reopened.expire(now: 31 * 86_400_000, ttlMillis: 30 * 86_400_000) == 1)
        #expect(await !reopened.contains(blob))
    }
}
