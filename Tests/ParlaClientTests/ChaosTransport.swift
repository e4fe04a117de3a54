import Foundation
@testable import ParlaClient

/// A real WebSocket transport that mistreats incoming messages the way a bad network
/// and relay redeliveries would: some are held back and delivered later (reordering),
/// some are delivered twice, some are lost with the connection they came on (never
/// confirmed, so the relay sends them again after the reconnect), and every link is
/// cut after a while anyway.
struct ChaosTransport: RelayTransport {
    let inner: any RelayTransport
    let framesPerLink: Int

    func connect(to url: String) async throws -> any RelayLink {
        ChaosLink(inner: try await inner.connect(to: url), framesPerLink: framesPerLink)
    }
}

actor ChaosLink: RelayLink {
    private let inner: any RelayLink
    private let framesPerLink: Int
    private var ready: [String] = []
    private var held: [(frame: String, releaseAfter: Int)] = []
    private var seen = 0
    private var cut = false

    init(inner: any RelayLink, framesPerLink: Int) {
        self.inner = inner
        self.framesPerLink = framesPerLink
    }

    func receive() async -> String? {
        while ready.isEmpty {
            if cut { return nil }
            guard let frame = await inner.receive() else { return nil }
            admit(frame)
        }
        return ready.removeFirst()
    }

    func receiveAvailable() async -> [String] {
        for frame in await inner.receiveAvailable() { admit(frame) }
        defer { ready = [] }
        return ready
    }

    private func admit(_ frame: String) {
        seen += 1
        for index in held.indices.reversed() where held[index].releaseAfter <= seen {
            ready.append(held.remove(at: index).frame)
        }
        guard frame.contains("\"type\":\"message\"") else {
            ready.append(frame)
            return
        }
        switch Int.random(in: 0..<100) {
        case 0..<10: held.append((frame, seen + Int.random(in: 2...15)))  // reordered
        case 10..<18: ready.append(contentsOf: [frame, frame])            // duplicated
        case 18..<21:
            // Lost on a dying connection: the link is cut, the relay redelivers after the reconnect.
            cut = true
            Task { await inner.close() }
            return
        default: ready.append(frame)
        }
        if seen >= framesPerLink {
            cut = true
            Task { await inner.close() }
        }
    }

    func send(_ text: String) async {
        guard !cut else { return }
        await inner.send(text)
    }

    func close() async { await inner.close() }
    func closeCode() async -> Int? { await inner.closeCode() }
}
