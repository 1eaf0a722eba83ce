import CLibPQ
import Foundation

/// One libpq connection. Owns its `PGconn*` and finishes it on every path, including a failed
/// connect (libpq hands back a handle even then).
///
/// Credentials come from the connection string or libpq's own environment (PGPASSWORD,
/// PGPASSFILE/.pgpass): ehrdata never needs a password in its config.
/// Not Sendable: a connection belongs to one thread at a time.
public final class PostgresConnection {
    let handle: OpaquePointer

    /// Connects as `connectionString` says, with `overrides` (keyword → value, e.g. another
    /// dbname or an application_name) taking precedence over it.
    public init(connectionString: String, overrides: [(String, String)] = []) throws {
        // libpq's parse errors quote the text they could not read (a password, perhaps): read it
        // first with our own error, so that libpq never gets to say it.
        if Self.isConnectionString(connectionString) { _ = try Self.parse(connectionString) }
        let keywords = ["dbname"] + overrides.map(\.0)
        let values = [connectionString] + overrides.map(\.1)
        let conn: OpaquePointer? = withArrayOfCStrings(keywords) { k in
            withArrayOfCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else {
            throw PostgresError(message: "out of memory", context: "connecting to PostgreSQL")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn))
            PQfinish(conn)
            // libpq's connection failures name hosts and ports; others (an invalid option value)
            // quote the text, which is kept to the wordings known to hold nothing else.
            throw PostgresError(sqlState: PostgresConnection.guessState(message), safe: PostgresErrorText.reduce(freeText: message),
                                serverText: message, context: "connecting to PostgreSQL")
        }
        // libpq prints the server's NOTICE and WARNING messages to stderr unless told otherwise,
        // and they quote values (a RAISE NOTICE in a CHECK function fires for every restored row).
        PQsetNoticeReceiver(conn, { _, _ in }, nil)
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

    /// The first column of the first row.
    public func value(_ sql: String) throws -> String? {
        try rows(sql).first?.first ?? nil
    }

    /// `'text'` as a SQL literal, escaped by libpq for this connection's encoding.
    public func literal(_ text: String) -> String {
        guard let p = PQescapeLiteral(handle, text, text.utf8.count) else { return "''" }
        defer { PQfreemem(p) }
        return String(cString: p)
    }

    /// A double-quoted identifier.
    public static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `schema.name`, both quoted.
    public static func qualified(_ schema: String, _ name: String) -> String {
        identifier(schema) + "." + identifier(name)
    }

    /// Whether libpq reads `text` as a connection string or URI (else it is a database name).
    static func isConnectionString(_ text: String) -> Bool {
        text.contains("=") || text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// The keyword/value pairs of a connection string or URI, as libpq reads them (defaults
    /// not filled in). Used to hand the same connection to pg_dump through its environment.
    /// A repeated keyword appears once, with the value libpq uses (the last).
    public static func parse(_ connectionString: String) throws -> [(keyword: String, value: String)] {
        try parseOptions(connectionString).map { ($0.keyword, $0.value) }
    }

    /// The same, with whether libpq marks the option secret (a password, sslpassword, …).
    static func parseOptions(_ connectionString: String) throws -> [(keyword: String, value: String, secret: Bool)] {
        if let problem = ambiguousURI(connectionString) {
            throw PostgresError(message: "the connection string cannot be read (\(problem))", context: "reading the connection string")
        }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &error) else {
            // Never libpq's own words: they quote the unreadable part, which may be a password.
            let reason = error.map { PostgresErrorText.reduce(parseError: String(cString: $0)) } ?? "cannot parse it"
            if let error { PQfreemem(error) }
            throw PostgresError(message: "the connection string cannot be read (\(reason))",
                                context: "reading the connection string")
        }
        defer { PQconninfoFree(options) }
        var out: [(String, String, Bool)] = []
        var p = options
        while let keyword = p.pointee.keyword {
            if let value = p.pointee.val {
                let secret = p.pointee.dispchar.map { String(cString: $0).hasPrefix("*") } ?? false
                out.append((String(cString: keyword), String(cString: value), secret))
            }
            p += 1
        }
        return out
    }

    /// A URI whose password holds an unencoded `@` or `/` is read by libpq with part of the
    /// password as the host, port or database name, which would then be shown: refuse it.
    static func ambiguousURI(_ text: String) -> String? {
        guard let scheme = text.range(of: "://"), text.hasPrefix("postgres") else { return nil }
        let rest = text[scheme.upperBound...].prefix { $0 != "?" }
        let ats = rest.indices.filter { rest[$0] == "@" }
        guard let lastAt = ats.last else { return nil }
        if ats.count > 1 || rest[..<lastAt].contains("/") {
            return "its user part holds an unencoded @ or /: percent-encode them in the password (%40, %2F)"
        }
        return nil
    }

    /// The connection as it may be shown: libpq's own reading of it (so a repeated keyword shows
    /// the value libpq uses, and a URI's `?password=` is found), rebuilt as keyword=value pairs
    /// with the password replaced by `***`. Text libpq cannot read is not shown at all.
    public static func displayForm(_ connectionString: String) -> String {
        guard isConnectionString(connectionString) else { return "dbname=" + quoted(connectionString) }
        guard let options = try? parseOptions(connectionString) else { return "(a connection string libpq cannot read)" }
        return options.map { option in
            // Secret options as libpq marks them; `options` may carry `-c` settings of any kind.
            if option.secret || option.keyword == "password" { return "\(option.keyword)=***" }
            if option.keyword == "options" { return "options=(set)" }
            return "\(option.keyword)=\(quoted(option.value))"
        }.joined(separator: " ")
    }

    /// Whether the connection string carries a password or another secret libpq marks so.
    public static func holdsSecret(_ connectionString: String) -> Bool {
        guard isConnectionString(connectionString), let options = try? parseOptions(connectionString) else { return false }
        return options.contains { ($0.secret || $0.keyword == "password") && !$0.value.isEmpty }
    }

    private static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "'" || $0 == "\\" }) else { return value }
        return "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// Whether the session is inside a transaction block.
    public var inTransaction: Bool { PQtransactionStatus(handle) != PQTRANS_IDLE }

    /// libpq reports connection failures without a SQLSTATE; recognise the common ones.
    static func guessState(_ message: String) -> String? {
        let m = message
        if m.contains("password authentication failed") || m.contains("no password supplied") { return "28P01" }
        if m.contains("pg_hba.conf") || (m.contains("role \"") && m.contains("does not exist")) { return "28000" }
        if m.contains("database \"") && m.contains("does not exist") { return "3D000" }
        if m.contains("the database system is") { return "57P03" }
        // pg_dump --lock-wait-timeout reports a lock wait it gave up on as a statement timeout.
        if m.contains("lock timeout") || m.contains("could not obtain lock") || m.contains("statement timeout") { return "55P03" }
        if m.contains("Connection refused") || m.contains("could not connect") || m.contains("timeout expired") {
            return "08001"
        }
        return nil
    }
}

/// Owns a `PGresult*` and clears it.
final class PostgresResult {
    private let handle: OpaquePointer

    init(_ result: OpaquePointer?, connection: OpaquePointer, context: String) throws {
        guard let result else { throw PostgresError(libpq: connection, context: context) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let (state, safe, full) = PostgresErrorText.describe(result: result)
            PQclear(result)
            throw PostgresError(sqlState: state, safe: safe, serverText: full, context: context)
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

/// NULL-terminated C string arrays for PQconnectdbParams.
private func withArrayOfCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeMutableBufferPointer { body(UnsafePointer($0.baseAddress!)) }
}

extension PostgresError {
    /// libpq's last message on `connection`, which may repeat a server error quoting values.
    init(libpq connection: OpaquePointer, context: String) {
        let text = String(cString: PQerrorMessage(connection))
        self.init(sqlState: PostgresConnection.guessState(text), safe: PostgresErrorText.reduce(freeText: text),
                  serverText: text, context: context)
    }
}
