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
/// The stepped backup writes a scratch copy inside the staging directory; one streaming pass then
/// hashes it, compresses it into gzip members and hashes the output, and the scratch copy is
/// removed. Memory is bounded by the members in flight, whatever the database size.
struct SQLiteSourceCapture {
    let source: SourceConfig
    let compression: Compression
    let logger: Logger
    var pagesPerStep: Int32 = 1024

    func capture(into snapshot: StagedSnapshot) throws -> Manifest.Source {
        guard let path = source.path else {
            throw EHRError(.configuration, "source '\(source.name)' has no path", hint: "add 'path:' to it in the config")
        }
        guard FileSystem.exists(path) else {
            throw EHRError(.notFound, "source '\(source.name)': database file \(path) does not exist",
                           hint: "fix 'path' in the config; 'ehrdata config check' lists the sources")
        }
        let db = try Self.open(path)
        try db.execute("BEGIN DEFERRED")
        // The first read starts the read transaction: from here on this connection sees one
        // snapshot of the database, and the counts below describe exactly the copied pages.
        _ = try db.integer("SELECT count(*) FROM sqlite_schema")
        let journalMode = try db.journalMode
        let consistency = journalMode == "wal" ? "wal-read-transaction" : "writers-blocked"
        if consistency == "writers-blocked" {
            logger.warning("rollback-journal database: writers are blocked until the copy ends",
                           metadata: ["source": "\(source.name)", "journal_mode": "\(journalMode)"])
        }
        let info = Manifest.SQLiteInfo(
            path: path, libraryVersion: SQLiteConnection.libraryVersion,
            pageSize: try db.pageSize, pageCount: try db.pageCount, userVersion: try db.userVersion,
            journalMode: journalMode, consistency: consistency,
            tables: try db.tableRowCounts().map { .init(name: $0.name, rows: $0.rows) })

        let scratch = snapshot.scratchPath(source.name + ".sqlite")
        try copy(from: db, to: scratch)
        try db.execute("COMMIT")

        let writer = try snapshot.dataFile(named: source.name + ".sqlite", role: "sqlite-database", compression: compression,
                                             content: .databasePages)
        let input = try InputFile(path: scratch)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
        }
        let file = try writer.finish()
        try FileSystem.removeTree(scratch)
        logger.info("captured sqlite source", metadata: [
            "source": "\(source.name)", "pages": "\(info.pageCount)",
            "bytes": "\(file.uncompressed.size)", "compressed": "\(file.compressed.size)",
        ])
        return Manifest.Source(name: source.name, kind: .sqlite, sqlite: info, files: [file])
    }

    /// Opens the source like any of its clients would, read-write (never creating it), so that
    /// SQLite tidies up its own -wal/-shm when the last connection closes. Read-only is the
    /// fallback for a backup user without write permission; it never writes, but can leave an
    /// empty -wal/-shm behind.
    static func open(_ path: String) throws -> SQLiteConnection {
        do { return try SQLiteConnection(path: path, mode: .readWrite) } catch let error as SQLiteError
            where error.isCantOpen || error.code == 8 /* SQLITE_READONLY */ || error.code == 3 /* SQLITE_PERM */ {
            return try SQLiteConnection(path: path, mode: .readOnly)
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
