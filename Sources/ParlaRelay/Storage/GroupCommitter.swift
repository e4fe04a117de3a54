import GRDB
import ParlaProtocol
import Synchronization

/// Runs many small write jobs in one shared transaction, so durability costs one
/// fsync per batch instead of one per message. A job's result is handed out only
/// after the transaction that holds it has committed.
///
/// Jobs are committed in submission order, which is what keeps per-sender order.
final class GroupCommitter: Sendable {
    private struct State {
        var queue: [any CommitJob] = []
        var draining = false
    }

    private let writer: DatabasePool
    private let state = Mutex(State())
    private let maxBatch: Int
    private let committed = Atomic<Int>(0)
    private let deferred: (any DeferredWrites)?
    private let reserve: DiskReserve?
    private let lowOnSpace: Atomic<Bool>
    /// When the disk was last asked for room to set the reserve aside again.
    private let lastReplenish = Mutex<ContinuousClock.Instant?>(nil)

    /// Transactions committed so far: housekeeping uses it to tell a busy store from an idle one.
    var commits: Int { committed.load(ordering: .relaxed) }

    /// True while the disk reserve is given up: only jobs that add nothing are written.
    var isLowOnSpace: Bool { lowOnSpace.load(ordering: .relaxed) }

    init(writer: DatabasePool, maxBatch: Int = 4096, deferred: (any DeferredWrites)? = nil, reserve: DiskReserve? = nil) {
        self.writer = writer
        self.maxBatch = maxBatch
        self.deferred = deferred
        self.reserve = reserve
        self.lowOnSpace = Atomic(!(reserve?.isHeld ?? true))
    }

    /// Queues `work` now (fixing its place in the commit order) and returns a ticket
    /// to await its committed result. Only jobs submitted `usingDeferred` may leave writes
    /// in `deferred` that SQL reads back (the mailbox counters); before any other job runs
    /// they are written out.
    /// Jobs that `add` (messages, receipts, accounts, keys) are refused while the disk is low
    /// on space; the others (deletions, last seen) are what frees it.
    func submit<T: Sendable>(usingDeferred: Bool = false, adds: Bool = false, _ work: @escaping @Sendable (Database) throws -> T) -> CommitTicket<T> {
        let job = Job(work: work, usesDeferred: usingDeferred, adds: adds)
        let startDrain = state.withLock { state -> Bool in
            state.queue.append(job)
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain {
            Task { await self.drain() }
        }
        return CommitTicket(job: job)
    }

    func perform<T: Sendable>(adds: Bool = false, _ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await submit(adds: adds, work).value()
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [any CommitJob] in
                if state.queue.isEmpty {
                    state.draining = false
                    return []
                }
                let take = min(state.queue.count, maxBatch)
                let batch = Array(state.queue.prefix(take))
                state.queue.removeFirst(take)
                return batch
            }
            if batch.isEmpty { return }
            await commitOrMakeRoom(isLowOnSpace ? refusingAdditions(batch) : batch)
        }
    }

    private func commitOrMakeRoom(_ batch: [any CommitJob]) async {
        guard !batch.isEmpty else { return }
        do {
            try await commitAndFinish(batch)
        } catch {
            guard StorageFault(error) == .full, let reserve, reserve.release() else {
                for job in batch { job.finish(commitError: error) }
                return
            }
            // The disk is full: the reserve is freed for what frees space; the rest waits for room.
            lowOnSpace.store(true, ordering: .relaxed)
            lastReplenish.withLock { $0 = .now }
            for job in batch where job.adds { job.finish(commitError: error) }
            let freeing = batch.filter { !$0.adds }
            guard !freeing.isEmpty else { return }
            do {
                try await commitAndFinish(freeing)
            } catch {
                for job in freeing { job.finish(commitError: error) }
            }
        }
    }

    /// Commits the jobs and hands each its result; on failure they are left unfinished.
    private func commitAndFinish(_ jobs: [any CommitJob]) async throws {
        try await commit(jobs)
        committed.add(1, ordering: .relaxed)
        for job in jobs { job.finish(commitError: nil) }
    }

    /// While low on space: sets the reserve aside again once the disk has room (asked at most
    /// once a second), else answers the jobs that add with "disk full" and keeps the rest.
    private func refusingAdditions(_ batch: [any CommitJob]) -> [any CommitJob] {
        let ask = lastReplenish.withLock { last in
            guard last.map({ ContinuousClock.now - $0 >= .seconds(1) }) ?? true else { return false }
            last = .now
            return true
        }
        if ask, reserve?.replenish() ?? true {
            lowOnSpace.store(false, ordering: .relaxed)
            return batch
        }
        for job in batch where job.adds { job.finish(commitError: StoreError.diskFull) }
        return batch.filter { !$0.adds }
    }

    /// Runs the jobs back to back in one transaction. A job that throws (rare: a full disk, a
    /// broken invariant) undoes the whole attempt, and the batch runs again with a savepoint per
    /// job so only that job fails. Savepoints on every job would cost two statements and a copy
    /// of each page a job touches, for every message.
    private func commit(_ batch: [any CommitJob]) async throws {
        do {
            try await writer.write { [deferred] db in
                for job in batch {
                    if !job.usesDeferred { try Self.flush(deferred, db) }
                    try job.run(in: db, isolated: false, deferred: deferred)
                }
                try Self.flush(deferred, db)
            }
        } catch is JobFailure {
            // GRDB rolled the attempt back (its rollback observers ran).
            deferred?.discard()
            do {
                try await writer.write { [deferred] db in
                    for job in batch {
                        try job.run(in: db, isolated: true, deferred: deferred)
                    }
                }
            } catch {
                deferred?.abandon()
                throw error
            }
        } catch {
            // COMMIT itself failed (a full disk): no rollback observer runs, so what the
            // transaction settled in memory is given up here.
            deferred?.abandon()
            throw error
        }
    }

    /// A failed flush is some job's doing: the batch is retried with each job flushed in its own savepoint.
    private static func flush(_ deferred: (any DeferredWrites)?, _ db: Database) throws {
        do {
            try deferred?.flush(db)
        } catch {
            throw JobFailure()
        }
    }
}

/// A job threw during an unguarded run: the batch is retried with savepoints.
private struct JobFailure: Error {}

/// What jobs of one transaction accumulate in memory and settle once: per-mailbox counters
/// written once per commit (a batch of a thousand messages to a hundred mailboxes updates a
/// hundred rows), or the idempotency keys the transaction will hold. Used only on the writer's queue.
protocol DeferredWrites: Sendable {
    /// Writes (or settles) what was accumulated and forgets it.
    func flush(_ db: Database) throws
    /// Forgets what was accumulated: the transaction or savepoint that held it was undone.
    func discard()
    /// Forgets everything of the running transaction, flushed or not: it failed as a whole
    /// (its COMMIT did), without the rollback callbacks GRDB gives a transaction it undoes.
    func abandon()
}

extension DeferredWrites {
    func abandon() { discard() }
}

/// Several kinds of deferred writes behind one: flushed in order, all discarded together.
struct DeferredWriteGroup: DeferredWrites {
    let parts: [any DeferredWrites]

    init(_ parts: [any DeferredWrites]) {
        self.parts = parts
    }

    func flush(_ db: Database) throws {
        for part in parts { try part.flush(db) }
    }

    func discard() {
        for part in parts { part.discard() }
    }

    func abandon() {
        for part in parts { part.abandon() }
    }
}

protocol CommitJob: Sendable {
    var usesDeferred: Bool { get }
    /// Grows the database (refused while the disk is low on space).
    var adds: Bool { get }
    /// With `isolated`, a failure is kept as this job's result and undone alone (with its
    /// deferred writes, flushed inside its savepoint); without it, a failure throws `JobFailure`
    /// and the caller discards the transaction.
    func run(in db: Database, isolated: Bool, deferred: (any DeferredWrites)?) throws
    func finish(commitError: (any Error)?)
}

/// The committed result of one submitted job.
struct CommitTicket<T: Sendable>: Sendable {
    fileprivate let job: GroupCommitter.Job<T>

    func value() async throws -> T {
        try await job.promise.value()
    }
}

extension GroupCommitter {
    fileprivate final class Job<T: Sendable>: CommitJob {
        let work: @Sendable (Database) throws -> T
        let usesDeferred: Bool
        let adds: Bool
        let promise = Promise<T>()
        private let outcome = Mutex<Result<T, any Error>?>(nil)

        init(work: @escaping @Sendable (Database) throws -> T, usesDeferred: Bool, adds: Bool) {
            self.work = work
            self.usesDeferred = usesDeferred
            self.adds = adds
        }

        func run(in db: Database, isolated: Bool, deferred: (any DeferredWrites)?) throws {
            guard isolated else {
                do {
                    let value = try work(db)
                    outcome.withLock { $0 = .success(value) }
                } catch {
                    throw JobFailure()
                }
                return
            }
            // Its own savepoint: one failing job does not undo its neighbours.
            let result: Result<T, any Error>
            do {
                // Prepared once per connection: a savepoint per message must not cost a parse each time.
                try db.cachedStatement(sql: "SAVEPOINT job").execute()
                do {
                    let value = try work(db)
                    try deferred?.flush(db)
                    try db.cachedStatement(sql: "RELEASE SAVEPOINT job").execute()
                    result = .success(value)
                } catch {
                    deferred?.discard()
                    try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT job").execute()
                    try db.cachedStatement(sql: "RELEASE SAVEPOINT job").execute()
                    throw error
                }
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
        }

        func finish(commitError: (any Error)?) {
            if let commitError {
                promise.resolve(.failure(commitError))
            } else {
                promise.resolve(outcome.withLock { $0 } ?? .failure(StoreError.notRun))
            }
        }
    }
}

enum StoreError: Error, CustomStringConvertible {
    case notRun
    case corrupt(String)
    /// A limit of the row layout (users, positions in a mailbox) was reached.
    case exhausted(String)
    /// The database file is gone but its write-ahead log is there.
    case missingDatabase(String)
    /// Refused while the disk reserve is given up (see `DiskReserve`).
    case diskFull

    var description: String {
        switch self {
        case .notRun: "write job was not run"
        case .diskFull: "the relay's disk is full (only deliveries are recorded until space is freed)"
        case .missingDatabase(let path):
            "\(path) is missing but its write-ahead log \(path)-wal is there: the relay's data was lost or half restored. "
                + "Restore relay.sqlite (with its -wal) from a backup; to start empty on purpose, move the -wal file away"
        case .corrupt(let what): "relay database is inconsistent: \(what)"
        case .exhausted(let what): "relay storage limit reached: \(what)"
        }
    }
}
