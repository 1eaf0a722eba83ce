#if canImport(Glibc)
import Glibc
#endif
import CPosix
import Dispatch
import EHRCore
import EHRSQLite
import Logging

/// The two ways a live SQLite file is pinned to one moment (see `SourceReaders`).
///
/// Debian's SQLite is built without SQLITE_ENABLE_SNAPSHOT, so connections cannot be handed one
/// read transaction's snapshot; instead nothing is allowed to commit while they start theirs.
enum LivePin {
    /// `count` read-only connections whose read transactions all started at one commit of a WAL
    /// database; nil when the database is not in WAL mode or the gate could not be had (no write
    /// access to the file, or another writer holding SQLite's write lock for the whole busy
    /// timeout): then the caller copies the database instead.
    static func readers(of path: String, count: Int, logger: Logger) throws -> [SQLiteConnection]? {
        var readers: [SQLiteConnection] = []
        do {
            // The gate is closed (end of this scope) while the readers are open: the last
            // connection to close a WAL database checkpoints it, and migrate never writes the source.
            let gate = try SQLiteConnection(path: path, mode: .readWrite, busyTimeoutMilliseconds: 0)
            guard try gate.journalMode == "wal" else { return nil }
            // Writes nothing: it takes the write lock, so no commit lands until ROLLBACK.
            try takeWriteLock(gate)
            defer { try? gate.execute("ROLLBACK") }
            for _ in 0..<count {
                let db = try SQLiteConnection(path: path, mode: .readOnly)
                try db.execute("BEGIN")
                // The first read starts the read transaction, at the newest commit.
                _ = try db.integer("SELECT count(*) FROM sqlite_schema")
                readers.append(db)
            }
        } catch {
            // The copy reports a real problem with the file by itself; here it only means "copy".
            logger.info("the live source cannot be read in place; copying it", metadata: ["reason": "\((error as? SQLiteError)?.message ?? "\(type(of: error))")"])
            return nil
        }
        return readers
    }

    /// `BEGIN IMMEDIATE`, retried every 200 µs for up to 5 s. SQLite's own busy handler sleeps
    /// for growing intervals and never wins against a writer that commits back to back (the
    /// lock is free for microseconds between its transactions); polling often does.
    private static func takeWriteLock(_ gate: SQLiteConnection) throws {
        let deadline = DispatchTime.now().uptimeNanoseconds + 5_000_000_000
        while true {
            do {
                return try gate.execute("BEGIN IMMEDIATE")
            } catch let error as SQLiteError where error.isBusy && DispatchTime.now().uptimeNanoseconds < deadline {
                usleep(200)
            }
        }
    }

    /// A private copy of one moment of `live` at `path` (an empty file): byte for byte under
    /// SQLite's SHARED lock for a rollback-journal database, with `VACUUM INTO` for a WAL one
    /// (its current state is spread over the file and the WAL).
    static func copy(_ live: String, to path: String, logger: Logger) throws {
        let source = try SQLiteConnection(path: live, mode: .readOnly)
        guard try source.journalMode != "wal" else {
            try source.execute("VACUUM INTO \(SQLiteConnection.quoteLiteral(path))")
            return
        }
        try source.execute("BEGIN")
        defer { try? source.execute("COMMIT") }
        // From this read until COMMIT no writer can change the file.
        _ = try source.integer("SELECT count(*) FROM sqlite_schema")
        logger.info("rollback-journal database: writers are blocked while it is copied", metadata: ["file": "\(live)"])
        try copyBytes(Int64(try source.pageSize) * Int64(try source.pageCount), from: live, to: path)
    }

    /// The first `count` bytes of `from` into `to`. The descriptor on the live file is closed only
    /// after the copy: closing any descriptor of a file drops the process's POSIX locks on it,
    /// SQLite's SHARED lock included.
    private static func copyBytes(_ count: Int64, from: String, to: String) throws {
        let input = open(from, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw EHRError(.failure, "cannot read \(from): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(to, O_WRONLY | O_CLOEXEC)
        guard output >= 0 else { throw EHRError(.failure, "cannot write the source copy \(to): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var done: Int64 = 0
        var inKernel = true
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while done < count {
            let wanted = Int(min(count - done, 1 << 30))
            var n = inKernel ? ehr_copy_file_range(input, output, UInt(wanted)) : -1
            if n < 0, errno == EINTR { continue }
            if n < 0, inKernel, [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP].contains(errno) {
                // Another file system or an old kernel: through a buffer instead.
                inKernel = false
                continue
            }
            if !inKernel {
                n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, min(wanted, $0.count)) }
                var written = 0
                while n > 0, written < n {
                    let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                    if w > 0 { written += w } else if w < 0, errno == EINTR { continue } else { n = -1 }
                }
            }
            guard n > 0 else {
                let why = n == 0 ? "the file ended early" : String(cString: strerror(errno))
                throw EHRError(.failure, "cannot copy \(from) to \(to): \(why)",
                               hint: "give --temp-dir a writable directory with room for the database")
            }
            done += Int64(n)
        }
    }
}
