import CSQLite
import EHRCore

/// A prepared statement. Owns its `sqlite3_stmt*` and keeps its connection alive.
public final class SQLiteStatement {
    let handle: OpaquePointer
    let connection: SQLiteConnection

    init(connection: SQLiteConnection, sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(connection.handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            sqlite3_finalize(stmt)
            throw SQLiteError(rc, connection.handle, "preparing a query on \(connection.path)")
        }
        handle = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    public func bind(_ value: String, at index: Int32) throws {
        let rc = sqlite3_bind_text(handle, index, value, -1, ehr_sqlite_transient())
        guard rc == SQLITE_OK else { throw SQLiteError(rc, connection.handle, "binding a parameter") }
    }

    /// Advances to the next row; false when done.
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(rc, connection.handle, "reading \(connection.path)")
        }
    }

    public var columnCount: Int32 { sqlite3_column_count(handle) }

    public func text(at column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL,
              let p = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: p)
    }

    public func int64(at column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
}

extension SQLiteStatement {
    public func bind(_ value: Int64, at index: Int32) throws {
        let rc = sqlite3_bind_int64(handle, index, value)
        guard rc == SQLITE_OK else { throw SQLiteError(rc, connection.handle, "binding a parameter") }
    }

    /// The column's value in its storage class (sqlite3_column_type decides, no conversion).
    public func value(at column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            let p = sqlite3_column_text(handle, column)
            let n = Int(sqlite3_column_bytes(handle, column))
            return .text(UnsafeRawBufferPointer(start: p.map(UnsafeRawPointer.init), count: p == nil ? 0 : n))
        case SQLITE_BLOB:
            let p = sqlite3_column_blob(handle, column)
            let n = Int(sqlite3_column_bytes(handle, column))
            return .blob(UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : n))
        default: return .null
        }
    }
}
