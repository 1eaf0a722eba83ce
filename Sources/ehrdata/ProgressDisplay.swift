import EHRCore
import Foundation

/// The progress line of a long command (backup, restore, verify --deep, drill, migrate): the step and
/// source, bytes done (of the total when known), rate and ETA, redrawn in place twice a second
/// on stderr. Only when stderr is a terminal, or with --progress; never on stdout, so --json
/// output and pipes stay clean, and cron's logs get none.
final class ProgressDisplay: @unchecked Sendable { // `lock` guards `running`
    nonisolated(unsafe) static var forced = false
    static var enabled: Bool { forced || isatty(STDERR_FILENO) == 1 }

    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)
    private let active: Bool

    /// The archive's byte meter (backup, restore, verify --deep, drill).
    convenience init(_ meter: ProgressMeter = .shared) {
        self.init { let s = meter.snapshot; return s.label.isEmpty ? nil : Self.render(s) }
    }

    /// `line` gives the text to draw, or nil for nothing (yet).
    init(line: @escaping @Sendable () -> String?) {
        active = Self.enabled
        guard active else { return }
        let terminal = isatty(STDERR_FILENO) == 1
        Thread.detachNewThread { [self] in
            var shown = false
            while lock.withLock({ running }) {
                if let line = line() {
                    // A terminal gets the line redrawn in place; a file gets one line per redraw.
                    FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
                    shown = terminal
                }
                usleep(500_000)
            }
            if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            done.signal()
        }
    }

    static func render(_ s: ProgressMeter.Snapshot) -> String {
        let rate = s.seconds > 0.2 ? Double(s.done) / s.seconds : 0
        var text = "\(s.label): \(ByteFormat.human(s.done))"
        if let total = s.total, total > 0 {
            text += " of \(ByteFormat.human(total)) (\(min(100, Int(Double(s.done) * 100 / Double(total))))%)"
        }
        if rate > 0 {
            text += ", \(ByteFormat.human(Int64(rate)))/s"
            if let total = s.total, total > s.done { text += ", ETA \(Int((Double(total - s.done) / rate).rounded(.up))) s" }
        }
        return text
    }

    func stop() {
        guard active else { return }
        lock.withLock { running = false }
        done.wait()
    }
}
