import Foundation

/// Fault injection for crash tests, driven by the environment so the real binary can be tested:
/// `EHRDATA_TEST_ABORT_AFTER_BYTES=N` kills the process (SIGKILL, like a crash) once N bytes
/// have been written to archive files. Off unless the variable is set.
enum TestHooks {
    nonisolated(unsafe) private static var written: Int64 = 0
    private static let abortAfter: Int64? = ProcessInfo.processInfo
        .environment["EHRDATA_TEST_ABORT_AFTER_BYTES"].flatMap { Int64($0) }

    static func didWrite(bytes: Int) {
        guard let limit = abortAfter else { return }
        written += Int64(bytes)
        if written >= limit { kill(getpid(), SIGKILL) }
    }
}
