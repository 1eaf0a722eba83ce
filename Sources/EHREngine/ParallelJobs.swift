import Foundation

/// Runs `count` jobs on `workers` threads, each worker with its own state (a database
/// connection), and returns the results in job order. After the first failure no new job
/// starts; that failure is thrown.
enum ParallelJobs {
    static func run<State, Output>(count: Int, workers: Int, makeState: @escaping () throws -> State,
                                   job: @escaping (inout State, Int) throws -> Output) throws -> [Output] {
        let shared = ParallelJobsState(makeState: makeState, job: job)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(workers, count)) {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                shared.work(count: count)
            }
            thread.stackSize = 1 << 21
            thread.start()
        }
        group.wait()
        if let failure = shared.failure { throw failure }
        return (0..<count).map { shared.results[$0]! }
    }
}

/// The jobs' shared bookkeeping. `@unchecked Sendable`: the mutable fields are guarded by
/// `lock`; the closures are called by one worker thread at a time per state, and the caller
/// waits for all workers before reading results.
private final class ParallelJobsState<State, Output>: @unchecked Sendable {
    let lock = NSLock()
    var next = 0
    var results: [Int: Output] = [:]
    var failure: Error?
    let makeState: () throws -> State
    let job: (inout State, Int) throws -> Output

    init(makeState: @escaping () throws -> State, job: @escaping (inout State, Int) throws -> Output) {
        self.makeState = makeState
        self.job = job
    }

    func work(count: Int) {
        do {
            var state = try makeState()
            while true {
                let index: Int? = lock.withLock {
                    guard failure == nil, next < count else { return nil }
                    defer { next += 1 }
                    return next
                }
                guard let index else { return }
                let output = try job(&state, index)
                lock.withLock { results[index] = output }
            }
        } catch {
            lock.withLock { if failure == nil { failure = error } }
        }
    }
}

extension ParallelJobs {
    /// Runs `background` on its own thread while `foreground` runs on this one, and waits for
    /// both (neither is cut short by the other's failure). Throws `background`'s error first, then
    /// `foreground`'s.
    static func alongside(_ background: @escaping () throws -> Void, _ foreground: () throws -> Void) throws {
        let other = BackgroundJob(background)
        let thread = Thread { other.run() }
        thread.stackSize = 1 << 21
        thread.start()
        var failure: Error?
        do { try foreground() } catch { failure = error }
        try other.wait()
        if let failure { throw failure }
    }
}

/// `@unchecked Sendable`: `failure` is written by the one thread that runs `body` before it
/// signals `done`, and read only after `wait()` returns.
private final class BackgroundJob: @unchecked Sendable {
    private let body: () throws -> Void
    private var failure: Error?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping () throws -> Void) { self.body = body }

    func run() {
        do { try body() } catch { failure = error }
        done.signal()
    }

    func wait() throws {
        done.wait()
        if let failure { throw failure }
    }
}
