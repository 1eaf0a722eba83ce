import CSQLite

import Foundation

/// What the manifest records about a SQLite database, read through one connection.
extension SQLiteConnection {
    public var pageSize: Int { get throws { Int(try integer("PRAGMA page_size")) } }
    public var pageCount: Int { get throws { Int(try integer("PRAGMA page_count")) } }
    public var userVersion: Int { get throws { Int(try integer("PRAGMA user_version")) } }
    public var journalMode: String { get throws { try text("PRAGMA journal_mode")?.lowercased() ?? "unknown" } }

    /// Ordinary tables (not SQLite's internal ones, not virtual tables whose module may be
    /// missing here), sorted by name.
    public func tableNames() throws -> [String] {
        try rows("""
            SELECT name FROM sqlite_schema
            WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
              AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%'
            ORDER BY name
            """).compactMap { $0.first ?? nil }
    }

    /// Row counts of every ordinary table, read in whatever transaction is open.
    public func tableRowCounts() throws -> [(name: String, rows: Int64)] {
        try tableNames().map { name in
            (name, try integer("SELECT count(*) FROM \(SQLiteConnection.quoteIdentifier(name))"))
        }
    }

    /// The same, but a table whose pages are too damaged to count is returned apart, with
    /// SQLite's message, instead of failing the whole backup of a damaged source.
    public func tableRowCountsSkippingDamage() throws -> (counts: [(name: String, rows: Int64)], damaged: [(name: String, message: String)]) {
        var counts: [(String, Int64)] = [], damaged: [(String, String)] = []
        let names: [String]
        do { names = try tableNames() } catch let error as SQLiteError where error.isCorrupt || error.isNotADatabase {
            return ([], [("sqlite_schema", error.message)]) // the schema itself: no table can be named
        }
        for name in names {
            do { counts.append((name, try integer("SELECT count(*) FROM \(SQLiteConnection.quoteIdentifier(name))"))) } catch let error as SQLiteError
                where error.isCorrupt || error.isNotADatabase {
                damaged.append((name, error.message))
            }
        }
        return (counts, damaged)
    }

    /// `PRAGMA integrity_check`'s findings; empty means the database is sound. SQLite's messages
    /// name pages and indexes, not row values.
    /// Damage so bad that the check itself stops with SQLITE_CORRUPT or SQLITE_NOTADB is
    /// reported as a finding, not thrown.
    public func integrityProblems(limit: Int = 20) throws -> [String] {
        try checkProblems("integrity_check", limit: limit)
    }

    /// The check's lines; on a badly damaged file SQLite may return some and then stop with
    /// SQLITE_CORRUPT, so the lines read so far are kept and the error becomes the last one.
    private func checkProblems(_ pragma: String, limit: Int) throws -> [String] {
        var lines: [String] = []
        do {
            let statement = try prepare("PRAGMA \(pragma)(\(limit))")
            while try statement.step() { if let line = statement.text(at: 0) { lines.append(line) } }
            return lines == ["ok"] ? [] : lines
        } catch let error as SQLiteError where error.isCorrupt || error.isNotADatabase {
            return lines + [error.message]
        }
    }

    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Never checkpoints the WAL when it closes, even as the last connection: for a connection
    /// that must not write the database file (migrate's gate).
    public func disableCheckpointOnClose() throws {
        let rc = ehr_sqlite_no_checkpoint_on_close(handle)
        guard rc == SQLITE_OK else { throw SQLiteError(rc, handle, "configuring \(path)") }
    }
}
