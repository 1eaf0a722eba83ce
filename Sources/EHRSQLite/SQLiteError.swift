import CSQLite

/// A SQLite failure at the adapter boundary: SQLite's result code and message, what we were
/// doing, and a hint. SQLite's messages name tables and columns, not row values.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var extendedCode: Int32
    public var message: String
    public var context: String

    public init(code: Int32, extendedCode: Int32? = nil, message: String, context: String) {
        self.code = code & 0xFF
        self.extendedCode = extendedCode ?? code
        self.message = message
        self.context = context
    }

    init(_ rc: Int32, _ db: OpaquePointer?, _ context: String) {
        let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite3_errstr(rc))
        let extended = db.map { sqlite3_extended_errcode($0) } ?? rc
        self.init(code: rc, extendedCode: extended, message: message, context: context)
    }

    public var description: String { "\(context): \(message)" }

    public var isNotADatabase: Bool { code == SQLITE_NOTADB }
    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
    public var isCantOpen: Bool { code == SQLITE_CANTOPEN }
    public var isCorrupt: Bool { code == SQLITE_CORRUPT }

    /// What a user can do about it.
    public var hint: String {
        switch code {
        case SQLITE_NOTADB: "the file is not a SQLite database; check the path"
        case SQLITE_CANTOPEN: "check that the file exists and is readable"
        case SQLITE_BUSY, SQLITE_LOCKED: "another process holds a lock on the database; retry later"
        case SQLITE_CORRUPT: "the database file is damaged; restore it from a snapshot"
        case SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH: "check file and directory permissions"
        case SQLITE_FULL: "the disk is full; free space and retry"
        case SQLITE_IOERR: "an I/O error occurred; check the disk and the kernel log"
        default: "see SQLite's message"
        }
    }
}
