import CSQLite

/// One SQLite connection. Owns its `sqlite3*` and closes it on every path, including a failed
/// open (SQLite hands back a handle even then).
///
/// Not Sendable: a connection belongs to one thread at a time.
public final class SQLiteConnection {
    public enum Mode {
        /// Never writes the file, never creates it.
        case readOnly
        /// Reads and writes an existing file.
        case readWrite
        /// Creates the file if needed.
        case create
        /// Reads a file nothing else can be changing (a restored copy): no locks, no -wal/-shm.
        case immutable
    }

    let handle: OpaquePointer
    public let path: String
    /// Kept alive as long as the connection, which may use it until closed.
    private let vfs: SQLiteVFS?
    /// The limit `setDeadline` set, kept alive while SQLite's progress handler points at it.
    var deadlineBox: DeadlineBox?

    /// Opens `path`, on `vfs` if given (else the default VFS). `busyTimeoutMilliseconds` is how
    /// long a statement waits for another process's lock before failing with SQLITE_BUSY.
    public init(path: String, mode: Mode, vfs: SQLiteVFS? = nil, busyTimeoutMilliseconds: Int32 = 10_000) throws {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .immutable: flags |= SQLITE_OPEN_READONLY
        }
        var db: OpaquePointer?
        // A URI keeps odd file names (with '?' or '#') from being read as URI syntax.
        let uri = SQLiteConnection.fileURI(path) + (mode == .immutable ? "?immutable=1" : "")
        let rc = sqlite3_open_v2(uri, &db, flags, vfs?.name)
        guard rc == SQLITE_OK, let db else {
            let error = SQLiteError(rc, db, "cannot open \(path)")
            sqlite3_close_v2(db)
            throw error
        }
        handle = db
        self.path = path
        self.vfs = vfs
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit { sqlite3_close_v2(handle) }

    static func fileURI(_ path: String) -> String {
        var out = "file:"
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "."),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// Runs one or more statements that return no rows we need.
    public func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw SQLiteError(rc, handle, "executing SQL on \(path)") }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        try SQLiteStatement(connection: self, sql: sql)
    }

    /// Every row of a query, each column as text (NULL as nil). For small catalog queries only.
    public func rows(_ sql: String, _ bindings: [String] = []) throws -> [[String?]] {
        let statement = try prepare(sql)
        for (i, value) in bindings.enumerated() { try statement.bind(value, at: Int32(i + 1)) }
        var result: [[String?]] = []
        while try statement.step() {
            result.append((0..<statement.columnCount).map { statement.text(at: $0) })
        }
        return result
    }

    /// The first column of the first row as an integer.
    public func integer(_ sql: String) throws -> Int64 {
        let statement = try prepare(sql)
        guard try statement.step() else {
            throw SQLiteError(code: SQLITE_ERROR, message: "query returned no row", context: "reading \(path)")
        }
        return statement.int64(at: 0)
    }

    /// The first column of the first row as text.
    public func text(_ sql: String) throws -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(at: 0)
    }

    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
