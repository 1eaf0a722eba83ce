import CSQLite

/// SQLite's online backup API, run in steps. Owns its `sqlite3_backup*`.
///
/// If the source connection already holds a read transaction, every step reads that same
/// snapshot: writers in other processes keep committing and the copy does not restart. Without
/// it, each step would start a new read and a foreign write would restart the whole copy.
public final class SQLiteBackup {
    private let handle: OpaquePointer
    private let source: SQLiteConnection
    private let destination: SQLiteConnection
    private var finished = false

    public init(from source: SQLiteConnection, to destination: SQLiteConnection) throws {
        guard let h = sqlite3_backup_init(destination.handle, "main", source.handle, "main") else {
            // Errors of backup_init are reported on the destination connection.
            throw SQLiteError(sqlite3_errcode(destination.handle), destination.handle,
                              "starting the online backup of \(source.path)")
        }
        handle = h
        self.source = source
        self.destination = destination
    }

    deinit { if !finished { sqlite3_backup_finish(handle) } }

    /// Copies up to `pages` pages. Returns true when the copy is complete.
    public func step(pages: Int32) throws -> Bool {
        let rc = sqlite3_backup_step(handle, pages)
        switch rc {
        case SQLITE_OK: return false
        case SQLITE_DONE: return true
        default:
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errstr(rc)),
                              context: "copying \(source.path)")
        }
    }

    public var remaining: Int32 { sqlite3_backup_remaining(handle) }
    public var pageCount: Int32 { sqlite3_backup_pagecount(handle) }

    /// Runs the copy to completion, `pagesPerStep` at a time.
    public func run(pagesPerStep: Int32 = 1024, progress: (Int32, Int32) -> Void = { _, _ in }) throws {
        while try !step(pages: pagesPerStep) {
            progress(pageCount - remaining, pageCount)
        }
        try finish()
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        let rc = sqlite3_backup_finish(handle)
        guard rc == SQLITE_OK else { throw SQLiteError(rc, destination.handle, "finishing the backup of \(source.path)") }
    }
}
