import EHRArchive
import EHRCompression
import EHRCore
import EHRSQLite
import Foundation
import Logging

/// Copies one SQLite source into a staged snapshot, consistently, while other processes keep
/// writing.
///
/// WAL databases: a read transaction is opened on the source connection and held while the
/// online backup API copies in steps, so every step reads the same snapshot and writers keep
/// committing. Rollback-journal databases: the same open read transaction holds a SHARED lock,
/// which blocks writers from committing until the copy ends; this is logged.
///
/// WAL databases are streamed: the backup's pages go straight into the compressor
/// (`SQLitePageStream`), one pass, with the read transaction held until the last member is
/// written. Rollback-journal databases are copied to a scratch file in the staging directory
/// first and compressed after the read transaction ends, because there the held transaction
/// blocks writers, and the copy alone is several times shorter than copy plus compression. If a
/// stream cannot be completed as checked, the partial file is deleted and the scratch path
/// copies the same snapshot. Memory is bounded by the members in flight, whatever the size.
struct SQLiteSourceCapture {
    let source: SourceConfig
    let compression: Compression
    let logger: Logger
    var pagesPerStep: Int32 = 1024

    func capture(into snapshot: StagedSnapshot) throws -> Manifest.Source {
        guard let path = source.path else {
            throw EHRError(.configuration, "source '\(source.name)' has no path", hint: "add 'path:' to it in the config")
        }
        // Before SQLite opens it: a FIFO would block the open, and an empty file or a device
        // would back up as an empty database.
        do throws(SQLiteSourceFile.Refusal) { try SQLiteSourceFile.check(path) } catch {
            throw error.error(source: source.name)
        }
        let tap = try SQLitePageTap()
        let db = try Self.open(path, vfs: tap)
        try db.execute("BEGIN DEFERRED")
        // The first read starts the read transaction: from here on this connection sees one
        // snapshot of the database, and the counts below describe exactly the copied pages.
        _ = try db.integer("SELECT count(*) FROM sqlite_schema")
        // That read brought in page 1, which stays pinned until COMMIT: the tap has what it needs.
        tap.isRecording = false
        let journalMode = try db.journalMode
        let consistency = journalMode == "wal" ? "wal-read-transaction" : "writers-blocked"
        if consistency == "writers-blocked" {
            logger.warning("rollback-journal database: writers are blocked until the copy ends",
                           metadata: ["source": "\(source.name)", "journal_mode": "\(journalMode)"])
        }
        // A damaged source is still backed up (it is its current state, and may be all there
        // is): a table too damaged to count is left out of the counts and reported.
        let (counts, uncountable) = try db.tableRowCountsSkippingDamage()
        let info = Manifest.SQLiteInfo(
            path: path, libraryVersion: SQLiteConnection.libraryVersion,
            pageSize: try db.pageSize, pageCount: try db.pageCount, userVersion: try db.userVersion,
            journalMode: journalMode, consistency: consistency,
            tables: counts.map { .init(name: $0.name, rows: $0.rows) })
        if info.tables.isEmpty && uncountable.isEmpty {
            // A service pointed at a wrong path creates an empty database there: back it up, but say so.
            logger.warning("the database has no tables; check 'path' in the config, the service may be writing elsewhere",
                           metadata: ["source": "\(source.name)", "path": "\(path)"])
        }

        let name = source.name + ".sqlite"
        let makeWriter = {
            try snapshot.dataFile(named: name, role: "sqlite-database", compression: compression, content: .databasePages)
        }
        var writer = try makeWriter()
        var streamed = false
        if consistency == "wal-read-transaction" {
            streamed = try stream(db, tap: tap, into: writer)
            if !streamed {
                try writer.discard()
                writer = try makeWriter()
            }
        }
        var problems = uncountable.map { "table \($0.name) cannot be counted: \($0.message)" }
        if streamed {
            // Exactly the pages just copied: still the same read transaction.
            problems += try db.integrityProblems()
            // After SQLite has met damage, even ending the read transaction may report it.
            do { try db.execute("COMMIT") } catch where !problems.isEmpty { try? db.execute("ROLLBACK") }
        } else {
            problems += try copyThroughScratch(db, scratch: snapshot.scratchPath(name), into: writer, damaged: !uncountable.isEmpty)
        }
        let file = try writer.finish()
        let check = Manifest.SourceCheck(method: Manifest.SourceCheck.integrityCheck, problems: problems)
        if !check.ok {
            logger.error("the source database is damaged; backed up as it is, and marked so", metadata: [
                "source": "\(source.name)", "check": "integrity_check", "first_problem": "\(check.problems[0])",
            ])
        }
        logger.info("captured sqlite source", metadata: [
            "source": "\(source.name)", "pages": "\(info.pageCount)", "streamed": "\(streamed)",
            "bytes": "\(file.uncompressed.size)", "compressed": "\(file.compressed.size)",
        ])
        return Manifest.Source(name: source.name, kind: .sqlite, sqlite: info, files: [file], sourceCheck: check)
    }

    /// Opens the source like any of its clients would, read-write (never creating it), so that
    /// SQLite tidies up its own -wal/-shm when the last connection closes. Read-only is the
    /// fallback for a backup user without write permission; it never writes, but can leave an
    /// empty -wal/-shm behind.
    static func open(_ path: String, vfs: SQLiteVFS? = nil) throws -> SQLiteConnection {
        do { return try SQLiteConnection(path: path, mode: .readWrite, vfs: vfs) } catch let error as SQLiteError
            where error.isCantOpen || error.code == 8 /* SQLITE_READONLY */ || error.code == 3 /* SQLITE_PERM */ {
            return try SQLiteConnection(path: path, mode: .readOnly, vfs: vfs)
        }
    }

    /// Streams the held read transaction's pages into `writer`. Returns false, with a warning,
    /// if the stream's checks stopped it; `writer` then holds a partial file to discard.
    private func stream(_ db: SQLiteConnection, tap: SQLitePageTap, into writer: DataFileWriter) throws -> Bool {
        var pages = 0
        do {
            try SQLitePageStream.copy(from: db, tap: tap, pagesPerStep: pagesPerStep) { page in
                pages += 1
                if let limit = TestHooks.streamRefusedAfterPages, pages > limit {
                    throw SQLitePageStream.NotStreamable(reason: "refused by EHRDATA_TEST_STREAM_REFUSE_AFTER_PAGES")
                }
                try writer.write(page)
            }
            return true
        } catch let error as SQLitePageStream.NotStreamable {
            logger.warning("copying through a scratch file instead", metadata: [
                "source": "\(source.name)", "reason": "\(error.reason)",
            ])
            return false
        }
    }

    /// Copies the held read transaction to `scratch`, ends the transaction (releasing writers
    /// of a rollback-journal database), then checks (integrity_check) and compresses the scratch
    /// copy and removes it. Returns the check's findings. `damaged`: the counts already met
    /// damage, after which even ending the read transaction may report it.
    private func copyThroughScratch(_ db: SQLiteConnection, scratch: String, into writer: DataFileWriter, damaged: Bool) throws -> [String] {
        try copy(from: db, to: scratch)
        do { try db.execute("COMMIT") } catch where damaged { try? db.execute("ROLLBACK") }
        let problems = try SQLiteConnection(path: scratch, mode: .immutable).integrityProblems()
        try compress(scratch, into: writer)
        try FileSystem.removeTree(scratch)
        return problems
    }

    private func compress(_ scratch: String, into writer: DataFileWriter) throws {
        let input = try InputFile(path: scratch)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
        }
    }

    private func copy(from db: SQLiteConnection, to scratch: String) throws {
        // Created 0600 before SQLite opens it: the copy is patient data.
        try OutputFile(creating: scratch).close()
        let destination = try SQLiteConnection(path: scratch, mode: .readWrite)
        // The scratch copy is rebuilt from scratch on failure, so it needs no journal or syncs.
        try destination.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
        let backup = try SQLiteBackup(from: db, to: destination)
        try backup.run(pagesPerStep: pagesPerStep)
    }
}
