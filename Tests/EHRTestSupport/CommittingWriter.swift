import EHRSQLite
import Foundation

/// A writer on its own thread and connection that commits `transaction(i)` for i = 1, 2, … back
/// to back until stopped, as a busy application would while ehrdata reads the database.
public final class CommittingWriter: @unchecked Sendable { // `lock` guards `stopping` and `failure`
    private let lock = NSLock()
    private var stopping = false
    private var _failure: String?
    private let done = DispatchSemaphore(value: 0)

    /// The error that stopped the writer early, if one did.
    public var failure: String? { lock.withLock { _failure } }

    public init(_ path: String, transaction: @escaping @Sendable (Int) -> String) {
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            do {
                let db = try SQLiteConnection(path: path, mode: .readWrite)
                var i = 0
                while !lock.withLock({ stopping }) {
                    i += 1
                    try db.execute(transaction(i))
                }
            } catch {
                lock.withLock { _failure = "\(error)" }
            }
        }
    }

    public func stop() {
        lock.withLock { stopping = true }
        done.wait()
    }
}
