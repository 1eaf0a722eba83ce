import Foundation

/// Hands out 0, 1, 2, … to several threads until stopped.
/// `@unchecked Sendable`: guarded by `lock`.
final class SharedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var stopped = false

    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard !stopped, next < limit else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func stop() { lock.withLock { stopped = true } }
}

/// A bounded queue of byte chunks between one producer and several consumers.
/// `@unchecked Sendable`: every field is guarded by `condition`.
final class ChunkQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [[UInt8]] = []
    private var closed = false
    private var failure: Error?
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func push(_ chunk: [UInt8]) throws {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if let failure { throw failure }
        guard !closed else { return }
        items.append(chunk)
        condition.broadcast()
    }

    /// The next chunk; nil once closed and drained; throws if closed with a failure.
    func pop() throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if let failure { throw failure }
        guard !items.isEmpty else { return nil }
        condition.broadcast()
        return items.removeFirst()
    }

    func close(failing error: Error?) {
        condition.lock()
        if failure == nil, let error { failure = error }
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

