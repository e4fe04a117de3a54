import Synchronization

/// Open connections per remote address, capped: one machine cannot take every socket (and
/// file descriptor) the relay has. Behind a reverse proxy every client shares the proxy's
/// address, so raise or lift the cap there (`--max-connections-per-ip 0`).
final class ConnectionLimiter: Sendable {
    let maxPerAddress: Int
    private let counts = Mutex<[String: Int]>([:])

    init(maxPerAddress: Int) {
        self.maxPerAddress = maxPerAddress
    }

    /// Counts a new connection from `address`, or refuses it when that address holds the most.
    func admit(_ address: String) -> Bool {
        guard maxPerAddress > 0 else { return true }
        return counts.withLock { counts in
            let open = counts[address, default: 0]
            guard open < maxPerAddress else { return false }
            counts[address] = open + 1
            return true
        }
    }

    func release(_ address: String) {
        guard maxPerAddress > 0 else { return }
        counts.withLock { counts in
            let open = counts[address, default: 0] - 1
            counts[address] = open > 0 ? open : nil
        }
    }
}
