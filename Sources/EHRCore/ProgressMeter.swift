import Foundation

/// What a long command is doing, for the progress line a person sees on a terminal: a label
/// (the step and the source), the bytes done and, when known, the total. The archive's data
/// files count the bytes as they pass (compressed on the way in, inflated on the way out); the
/// engines name the step. Counters only: drawing is the executable's (silent in cron).
///
/// `@unchecked Sendable`: every field is guarded by `lock`.
public final class ProgressMeter: @unchecked Sendable {
    public static let shared = ProgressMeter()

    public struct Snapshot: Sendable {
        public var label: String
        public var done: Int64
        public var total: Int64?
        public var seconds: Double
    }

    private let lock = NSLock()
    private var label = ""
    private var done: Int64 = 0
    private var total: Int64?
    private var started = Date()

    /// A new step: counters from zero. `total` in bytes, nil when unknown (no ETA then).
    public func begin(_ label: String, total: Int64?) {
        lock.withLock {
            self.label = label
            self.total = total
            done = 0
            started = Date()
        }
    }

    public func add(_ bytes: Int) {
        lock.withLock { done += Int64(bytes) }
    }

    public func end() {
        lock.withLock { label = "" }
    }

    public var snapshot: Snapshot {
        lock.withLock { Snapshot(label: label, done: done, total: total, seconds: Date().timeIntervalSince(started)) }
    }
}
