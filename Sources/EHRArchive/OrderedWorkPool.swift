import Foundation

/// Runs a transform on worker threads and hands results back in submission order, with a bound
/// on how many items are in flight so memory stays flat whatever the stream's length.
///
/// Each worker owns its own `State` (a zlib stream, say), made once by `makeState`. One thread
/// submits and collects; `submit` blocks while `maxInFlight` items are pending, so the producer
/// runs at the workers' pace.
///
/// `@unchecked Sendable`: all mutable fields are guarded by `condition`.
public final class OrderedWorkPool<Input, Output, State>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [(index: Int, input: Input)] = []
    private var done: [Int: Result<Output, Error>] = [:]
    private var nextSubmit = 0
    private var nextCollect = 0
    private var closed = false
    private var running = 0
    private let maxInFlight: Int
    private let transform: (inout State, Input) throws -> Output

    public init(workers: Int, maxInFlight: Int, makeState: @escaping @Sendable () throws -> State,
                transform: @escaping (inout State, Input) throws -> Output) {
        self.maxInFlight = max(1, maxInFlight)
        self.transform = transform
        let count = max(1, workers)
        running = count
        for _ in 0..<count {
            let thread = Thread { [self] in work(makeState) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { shutdown() }

    private func work(_ makeState: () throws -> State) {
        var state: State
        do { state = try makeState() } catch {
            fail(with: error)
            return
        }
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let item = queue.removeFirst()
            condition.unlock()
            let result = Result { try transform(&state, item.input) }
            condition.lock()
            done[item.index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// A worker that cannot start fails every item still to come.
    private func fail(with error: Error) {
        condition.lock()
        for item in queue { done[item.index] = .failure(error) }
        queue.removeAll()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Queues `input`, first waiting while the pool is full; returns the results that became
    /// ready, in order.
    public func submit(_ input: Input) throws -> [Output] {
        condition.lock()
        while nextSubmit - nextCollect >= maxInFlight && done[nextCollect] == nil { condition.wait() }
        queue.append((nextSubmit, input))
        nextSubmit += 1
        condition.broadcast()
        condition.unlock()
        return try collect(waiting: false)
    }

    /// Waits for every submitted item; returns the remaining results in order.
    public func drain() throws -> [Output] { try collect(waiting: true) }

    private func collect(waiting: Bool) throws -> [Output] {
        var out: [Output] = []
        condition.lock()
        defer { condition.unlock() }
        while nextCollect < nextSubmit {
            if let result = done.removeValue(forKey: nextCollect) {
                nextCollect += 1
                out.append(try result.get())
            } else if waiting {
                if running == 0 && !queue.isEmpty {
                    throw NSError(domain: "ehrdata.OrderedWorkPool", code: 1)
                }
                condition.wait()
            } else {
                break
            }
        }
        return out
    }

    /// Stops the workers once the queue is empty.
    public func shutdown() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    public static var defaultWorkers: Int { ProcessInfo.processInfo.activeProcessorCount }
}
