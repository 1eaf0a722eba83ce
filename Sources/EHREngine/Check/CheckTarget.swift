import EHRCore
import EHRPostgres
import EHRSQLite
import Foundation

/// Where the checks of one configured source run: the source itself (`check`) or its scratch
/// copy (`drill`). Results always carry the configured source's name.
enum CheckTarget {
    /// A SQLite file, opened read-only.
    case sqlite(path: String)
    /// A PostgreSQL database: `connection` with `database` in place of its dbname (nil: its own).
    case postgres(connection: String, database: String?)

    var kind: SourceKind {
        if case .sqlite = self { return .sqlite }
        return .postgres
    }

    func openSQLite() throws -> SQLiteConnection {
        guard case .sqlite(let path) = self else { preconditionFailure("not a sqlite target") }
        return try SQLiteConnection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 10_000)
    }

    /// A connection with a READ ONLY transaction open and the statement timeout set.
    func openReadOnly(timeout: Double?) throws -> PostgresConnection {
        guard case .postgres(let connection, let database) = self else { preconditionFailure("not a postgres target") }
        var overrides = [("application_name", "ehrdata check")]
        if let database { overrides.append(("dbname", database)) }
        let db = try PostgresConnection(connectionString: connection, overrides: overrides)
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if let timeout { try db.execute("SET LOCAL statement_timeout = \(max(1, Int((timeout * 1000).rounded())))") }
        return db
    }

    /// The targets of `check`: every configured source where it lives.
    static func live(_ configuration: Configuration) -> [String: CheckTarget] {
        var targets: [String: CheckTarget] = [:]
        for source in configuration.sources {
            if let path = source.path { targets[source.name] = .sqlite(path: path) }
            if let connection = source.connection { targets[source.name] = .postgres(connection: connection, database: nil) }
        }
        return targets
    }
}

/// How long a piece of work took, in seconds.
enum Stopwatch {
    static func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let clock = ContinuousClock(), start = clock.now
        let value = try body()
        let elapsed = (clock.now - start).components
        return (value, Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
    }
}

/// The process's peak resident memory (VmHWM in /proc/self/status), in bytes; 0 if unknown.
enum PeakMemory {
    static func bytes() -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.dropFirst(6).filter(\.isNumber)
            return (Int64(digits) ?? 0) * 1024
        }
        return 0
    }
}

/// A one-line reason a check could not run, without row values (PostgreSQL's text only with
/// --show-values, as everywhere).
enum CheckFailure {
    static func describe(_ error: Error, timeout: Double?) -> String {
        if let e = error as? PostgresError {
            if e.sqlState == "25006" { return "the query tries to write; check runs every query read-only" }
            if e.sqlState == "57014" {
                return "the query ran past check.statement_timeout (\(timeout.map { Self.seconds($0) } ?? "set by the server"))"
            }
        }
        if let e = error as? SQLiteError {
            if e.isInterrupted { return "the query ran past check.statement_timeout (\(timeout.map { Self.seconds($0) } ?? "?"))" }
            if e.code == 8 { return "the query tries to write; check runs every query read-only" } // SQLITE_READONLY
        }
        let mapped = ErrorMapping.map(error)
        return (mapped as? EHRError)?.message ?? "\(error)"
    }
}

extension CheckFailure {
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : String(format: "%.1fs", value)
    }
}
