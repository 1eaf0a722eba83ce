import CSQLite

extension SQLiteError {
    /// A read-only connection met a hot journal: the `-journal` of a rollback-journal database
    /// that a writer left when it crashed mid-transaction (SQLITE_READONLY_ROLLBACK). The
    /// database file may hold half of that transaction; only a connection that may write can
    /// roll it back, and SQLite does so on the next such open.
    public var isHotJournal: Bool { extendedCode == SQLITE_READONLY | (3 << 8) }
}
