#if canImport(Glibc)
import Glibc
#endif
import EHRCore
import Foundation

/// Fault injection for crash and lock tests, driven by the environment so the real binary can be
/// tested. All off unless the variables are set; nothing here runs in normal use.
///
/// - `EHRDATA_TEST_ABORT_AFTER_BYTES=N`: SIGKILL (like a crash) once N bytes have been written to
///   archive or restore files.
/// - `EHRDATA_TEST_PAUSE_AFTER_BYTES=N` or `EHRDATA_TEST_PAUSE_AT=POINT`, with
///   `EHRDATA_TEST_HOOK_DIR=DIR`: at that moment create `DIR/paused` (containing the pid), then
///   wait until `DIR/resume` exists. Points: `backup-before-publish`, `restore-before-swap`,
///   `postgres-before-workers` (snapshot exported by the coordinator, workers not yet locked),
///   `postgres-after-snapshot` (tables locked, snapshot exported, nothing copied yet) and
///   `postgres-before-verify` (restored database's rows loaded; no indexes or constraints yet,
///   nothing checked against the manifest)
///   and `postgres-before-swap` (restored database loaded and verified, nothing renamed yet).
///   The in-place swap's transaction (PostgresRestore) pauses before each of its statements:
///   `postgres-swap-begin` (before BEGIN), `postgres-swap-terminate` (before ending the original's
///   sessions), `postgres-swap-rename-original` (before renaming the original to the kept name),
///   `postgres-swap-rename-restored` (before renaming the restored database to the original's
///   name), `postgres-swap-commit` (before COMMIT), and `postgres-swap-committed` (after COMMIT).
///   In-place SQLite swap: `sqlite-swap-rename-N` (before the N-th file is moved aside, companions
///   first, the database last), `sqlite-swap-rename-restored` (before the restored copy is
///   renamed in) and `sqlite-swap-done` (after it, before the intent record is removed).
///   migrate: `migrate-loaded-part` (after each loaded part), `migrate-before-proof`,
///   `migrate-swap-begin`, `migrate-swap-rename` (--replace, before the renames),
///   `migrate-swap-commit` and `migrate-swap-committed`.
///   drill: `drill-before-checks` (every source restored into its scratch place, nothing checked).
/// - `EHRDATA_TEST_KILL_AT=POINT`: SIGKILL at that checkpoint (with a pause at another one, a
///   test can set the scene, then have the process die at a later step). Also
///   `sqlite-undo-database-aside`: undoing a finished swap, after the restored database was moved
///   aside and before its companions.
///   prune: `prune-after-unpublish` (the first snapshot renamed into removing/, nothing deleted),
///   `prune-mid-delete` (its data files deleted, its manifest not) and `prune-after-delete` (the
///   first snapshot fully deleted, the others not yet unpublished).
/// - `EHRDATA_TEST_NOW=20261129T093647Z`: the clock as `now()` reads it (a backup's start time and
///   snapshot id, a hold's time, status's ages), so tests make snapshots at chosen times.
/// - `EHRDATA_TEST_STREAM_REFUSE_AFTER_PAGES=N`: a streamed SQLite copy gives up after N pages,
///   as if a check had failed, so the fallback through a scratch file runs.
public enum TestHooks {
    private static let environment = ProcessInfo.processInfo.environment
    private static let abortAfter = environment["EHRDATA_TEST_ABORT_AFTER_BYTES"].flatMap { Int64($0) }
    private static let pauseAfter = environment["EHRDATA_TEST_PAUSE_AFTER_BYTES"].flatMap { Int64($0) }
    private static let pauseAt = environment["EHRDATA_TEST_PAUSE_AT"]
    private static let killAt = environment["EHRDATA_TEST_KILL_AT"]
    private static let hookDirectory = environment["EHRDATA_TEST_HOOK_DIR"]
    private static let state = Counter()
    private static let fixedNow = environment["EHRDATA_TEST_NOW"].flatMap { Timestamp.parseCompactUTC($0) }
    public static let streamRefusedAfterPages = environment["EHRDATA_TEST_STREAM_REFUSE_AFTER_PAGES"].flatMap { Int($0) }

    private final class Counter: @unchecked Sendable { // guarded by `lock`
        let lock = NSLock()
        var written: Int64 = 0
        var paused = false
    }

    static func didWrite(bytes: Int) {
        guard abortAfter != nil || pauseAfter != nil else { return }
        let (total, shouldPause): (Int64, Bool) = state.lock.withLock {
            state.written += Int64(bytes)
            let pause = pauseAfter.map { state.written >= $0 } == true && !state.paused
            if pause { state.paused = true }
            return (state.written, pause)
        }
        if let abortAfter, total >= abortAfter { kill(getpid(), SIGKILL) }
        if shouldPause { pause() }
    }

    /// The time: the real clock, unless a test fixed it with `EHRDATA_TEST_NOW`.
    public static func now() -> Date { fixedNow ?? Date() }

    /// A named moment in a command where a test may pause it.
    public static func checkpoint(_ point: String) {
        if killAt == point { kill(getpid(), SIGKILL) }
        if pauseAt == point { pause() }
    }

    private static func pause() {
        guard let dir = hookDirectory else { return }
        _ = FileManager.default.createFile(atPath: dir + "/paused", contents: Data("\(getpid())\n".utf8))
        while !FileManager.default.fileExists(atPath: dir + "/resume") { usleep(20_000) }
    }
}
