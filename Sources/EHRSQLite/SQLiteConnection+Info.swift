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

    /// `PRAGMA integrity_check`'s findings; empty means the database is sound. SQLite's messages
    /// name pages and indexes, not row values.
    /// Damage so bad that the check itself stops with SQLITE_CORRUPT or SQLITE_NOTADB is
    /// reported as a finding, not thrown.
    public func integrityProblems(limit: Int = 20) throws -> [String] {
        do {
            let lines = try rows("PRAGMA integrity_check(\(limit))").compactMap { $0.first ?? nil }
            return lines == ["ok"] ? [] : lines
        } catch let error as SQLiteError where error.isCorrupt || error.isNotADatabase {
            return [error.message]
        }
    }

    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
