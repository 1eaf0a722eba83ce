import CLibPQ

/// One libpq connection. Owns its `PGconn*` and finishes it on every path, including a failed
/// connect (libpq hands back a handle even then).
///
/// Credentials come from the connection string or libpq's own environment (PGPASSWORD,
/// PGPASSFILE/.pgpass): ehrdata never needs a password in its config.
/// Not Sendable: a connection belongs to one thread at a time.
public final class PostgresConnection {
    private let handle: OpaquePointer

    public init(connectionString: String) throws {
        guard let conn = PQconnectdb(connectionString) else {
            throw PostgresError(message: "out of memory", context: "connecting to PostgreSQL")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(sqlState: PostgresConnection.guessState(message), message: message,
                                context: "connecting to PostgreSQL")
        }
        handle = conn
    }

    deinit { PQfinish(handle) }

    /// The server's version as a number (150018 for 15.18).
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    public var databaseName: String { String(cString: PQdb(handle)) }

    /// Runs a query and returns every row, each column as text (NULL as nil). For catalog queries.
    public func rows(_ sql: String) throws -> [[String?]] {
        let result = try PostgresResult(PQexec(handle, sql), connection: handle, context: "running a query")
        return result.rows()
    }

    /// Runs a statement that returns no rows we need.
    public func execute(_ sql: String) throws {
        _ = try PostgresResult(PQexec(handle, sql), connection: handle, context: "running a statement")
    }

    /// libpq reports connection failures without a SQLSTATE; recognise the common ones.
    static func guessState(_ message: String) -> String? {
        if message.contains("password authentication failed") { return "28P01" }
        if message.contains("does not exist") && message.contains("database") { return "3D000" }
        return nil
    }
}

/// Owns a `PGresult*` and clears it.
final class PostgresResult {
    private let handle: OpaquePointer

    init(_ result: OpaquePointer?, connection: OpaquePointer, context: String) throws {
        guard let result else {
            throw PostgresError(message: String(cString: PQerrorMessage(connection)), context: context)
        }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(cString: PQresultErrorMessage(result))
            PQclear(result)
            throw PostgresError(sqlState: state, message: message, context: context)
        }
        handle = result
    }

    deinit { PQclear(handle) }

    func rows() -> [[String?]] {
        let n = PQntuples(handle), m = PQnfields(handle)
        return (0..<n).map { row in
            (0..<m).map { col in
                PQgetisnull(handle, row, col) == 1 ? nil : String(cString: PQgetvalue(handle, row, col))
            }
        }
    }
}
