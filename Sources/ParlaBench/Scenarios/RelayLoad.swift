import Foundation
import NIOCore
import NIOPosix

/// What every relay scenario is given (the common `parla-bench` flags).
public struct LoadOptions: Sendable {
    public var server: String?
    public var relayPID: Int32?
    public var clients = 100
    public var messages = 100_000
    public var size = 256
    /// Unacknowledged sends per client at full speed.
    public var window = 256
    /// Event-loop threads of the generator (one leaves the other core to the relay).
    public var threads = 1
    public var timeout: Duration = .seconds(300)
    public init() {}
}

/// The parts every scenario shares: the relay, the generator's event loops, and peers.
struct LoadRun {
    let options: LoadOptions
    let relay: BenchRelay
    let group: MultiThreadedEventLoopGroup
    let prefix = runPrefix()
    let body: String

    static func start(_ options: LoadOptions, bare: Bool = false) async throws -> LoadRun {
        ProcessSample.raiseFileLimit()
        let relay = bare ? try await BenchRelay.startBare() : try await BenchRelay.start(server: options.server, relayPID: options.relayPID)
        return LoadRun(options: options, relay: relay, group: MultiThreadedEventLoopGroup(numberOfThreads: options.threads),
                       body: BenchFrames.body(size: options.size))
    }

    func peers(_ count: Int, offset: Int = 0) -> [BenchPeer] {
        (0..<count).map { BenchPeer(index: offset + $0, prefix: prefix) }
    }

    func finish(_ peers: [BenchPeer]) async {
        for peer in peers { peer.close() }
        try? await Task.sleep(for: .milliseconds(100))
        await relay.stop()
        try? await group.shutdownGracefully()
    }
}
