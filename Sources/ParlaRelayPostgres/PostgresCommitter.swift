import Foundation
import Logging
import ParlaRelay
import PostgresNIO
import Synchronization

/// Writes in PostgreSQL the way `GroupCommitter` writes in SQLite: every job queued while a
/// commit runs goes into the next transaction, in submission order, and each job's result is
/// released only after `COMMIT` returned. A run of message acceptances is written with one
/// array insert per table. Nothing is answered from a transaction that did not commit.
final class PostgresCommitter: Sendable {
    /// One unit of work. `write` runs inside the batch's transaction and may run again (the
    /// batch is rerun after a deadlock), so it keeps its effects to the database until `finish`.
    struct Job: Sendable {
        enum Work: Sendable {
            case write(@Sendable (PostgresConnection) async throws -> Void)
            case accept(AcceptRequest)
        }

        let work: Work
        /// The users whose rows the job will lock (mailbox positions and counters), found
        /// before any job of the batch runs; see `transaction`.
        var locks: Locks = .none
        let finish: @Sendable (Result<Void, any Error>) -> Void
    }

    /// Which users' rows a job locks: named, or found by a read (a confirmation's senders).
    enum Locks: Sendable {
        case none
        case users([String])
        case found(@Sendable (PostgresConnection) async throws -> [String])
    }

    private let client: PostgresClient
    private let logger: Logger
    private let queue = Mutex<[Job]>([])
    private let wakeUp: AsyncStream<Void>
    private let wakeUpContinuation: AsyncStream<Void>.Continuation
    private let committed = Atomic<Int>(0)
    static let maxBatch = 1_000

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        (wakeUp, wakeUpContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Transactions committed so far.
    var commits: Int { committed.load(ordering: .relaxed) }

    func submit(_ job: Job) {
        queue.withLock { $0.append(job) }
        wakeUpContinuation.yield()
    }

    /// Runs `write` in the next batch and returns its result once that batch committed.
    func perform<T: Sendable>(locking locks: Locks = .none, _ write: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await enqueue(locking: locks, write).value()
    }

    /// Takes `write`'s place in the commit order now; its result is awaited later.
    func enqueue<T: Sendable>(locking locks: Locks = .none, _ write: @escaping @Sendable (PostgresConnection) async throws -> T) -> PendingOutcome<T> {
        let promise = Promise<T>()
        let result = Mutex<T?>(nil)
        submit(Job(work: .write { connection in
            let value = try await write(connection)
            result.withLock { $0 = value }
        }, locks: locks, finish: { outcome in
            promise.resolve(outcome.flatMap {
                guard let value = result.withLock({ $0 }) else { return .failure(PostgresStoreError.corrupt("a write job gave no result")) }
                return .success(value)
            })
        }))
        return PendingOutcome { try await promise.value() }
    }

    /// Commits batches until cancelled; jobs still queued then fail.
    func run() async {
        for await _ in wakeUp {
            while !Task.isCancelled {
                let batch = queue.withLock { queue -> [Job] in
                    let batch = Array(queue.prefix(Self.maxBatch))
                    queue.removeFirst(batch.count)
                    return batch
                }
                if batch.isEmpty { break }
                await commit(batch)
            }
        }
        let left = queue.withLock { queue -> [Job] in
            defer { queue = [] }
            return queue
        }
        for job in left { job.finish(.failure(PostgresStoreError.notRunning)) }
    }

    private func commit(_ batch: [Job]) async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await client.withConnection { connection in
                    try await self.transaction(batch, on: connection)
                }
                committed.add(1, ordering: .relaxed)
                for job in batch { job.finish(.success(())) }
                return
            } catch let error as PSQLError where error.serverInfo?[.sqlState] != nil {
                let state = error.serverInfo?[.sqlState] ?? ""
                // Two nodes locking the same mailboxes in another order: the batch runs again.
                if ["40P01", "40001"].contains(state), attempt < 5 { continue }
                if batch.count > 1 {
                    // One job's error must not fail the others: each runs alone.
                    for job in batch { await commit([job]) }
                    return
                }
                logger.error("PostgreSQL refused a write", metadata: ["sqlState": "\(state)", "error": "\(String(reflecting: error))"])
                for job in batch { job.finish(.failure(error)) }
                return
            } catch {
                // The connection is gone, perhaps during COMMIT: whether it committed is unknown.
                // The sessions report a failure, and the clients' resends are recognised by id.
                logger.warning("PostgreSQL commit failed", metadata: ["error": "\(String(reflecting: error))"])
                let failure = (error as? PostgresStoreError) ?? PostgresStoreError.commitInterrupted(PostgresStoreError.reason(error))
                for job in batch { job.finish(.failure(failure)) }
                return
            }
        }
    }

    private func transaction(_ batch: [Job], on connection: PostgresConnection) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            // Every row the batch locks is locked first, in name order: nodes committing at once
            // then wait for each other instead of deadlocking (each deadlock costs PostgreSQL's
            // deadlock_timeout before one side is told to retry).
            var names = Set<String>()
            for job in batch {
                switch (job.work, job.locks) {
                case (.accept(let request), _): names.insert(request.recipient)
                case (_, .users(let users)): names.formUnion(users)
                case (_, .found(let find)): names.formUnion(try await find(connection))
                case (_, .none): break
                }
            }
            if !names.isEmpty {
                try await connection.query("SELECT 1 FROM users WHERE name = ANY(\(names.sorted())) ORDER BY name FOR UPDATE", logger: logger)
            }
            var accepts: [AcceptRequest] = []
            for job in batch {
                switch job.work {
                case .accept(let request):
                    accepts.append(request)
                case .write(let write):
                    if !accepts.isEmpty {
                        try await AcceptRequest.write(accepts, on: connection, logger: logger)
                        accepts = []
                    }
                    try await write(connection)
                }
            }
            if !accepts.isEmpty { try await AcceptRequest.write(accepts, on: connection, logger: logger) }
            try await connection.query("COMMIT", logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] != nil {
            // The connection still works: leave it clean for the pool.
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}
