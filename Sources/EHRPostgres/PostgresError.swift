import Foundation

/// A libpq or PostgreSQL-tool failure at the adapter boundary: what we were doing, the SQLSTATE
/// when there is one, a message safe to show, and a hint. Never carries the connection password.
///
/// The server's own text often quotes row values (`invalid input syntax for type integer:
/// "…"`, a unique violation's `Key (id)=(…)`, a failing row, a statement), so `message` is
/// rebuilt from what names the problem without values: the condition, the objects the server
/// names in its error fields, the COPY line number (`PostgresErrorText`). The full text is kept
/// in `serverText`, shown only where the user asked for it (`--show-values`).
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public var sqlState: String?
    /// Safe to print and log: no row values, no statement text.
    public var message: String
    /// The server's or tool's full text, on one line; may quote patient data.
    public var serverText: String
    public var context: String

    /// An error ehrdata itself words (no server text in it).
    public init(sqlState: String? = nil, message: String, context: String) {
        self.sqlState = sqlState
        let first = message.split(separator: "\n").first.map(String.init) ?? message
        self.message = first.trimmingCharacters(in: .whitespaces)
        serverText = self.message
        self.context = context
    }

    /// An error whose text came from the server or a tool, with `safe` its value-free form.
    init(sqlState: String?, safe: String, serverText: String, context: String) {
        self.sqlState = sqlState
        message = safe
        // Every line (DETAIL and CONTEXT too: that is what a person asking for it wants), on one.
        self.serverText = serverText.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
        self.context = context
    }

    public var description: String { "\(context): \(message)" }
    /// With the server's own words, which may quote row values: only behind `--show-values`.
    public var fullDescription: String { "\(context): \(serverText)" }

    /// Failures that a new attempt under a new snapshot can get past: the server restarting or
    /// dropping the connection, serialization failures, deadlocks, lock timeouts.
    public var isTransient: Bool {
        if let state = sqlState {
            if state.hasPrefix("08") || ["40001", "40P01", "55P03", "57P01", "57P02", "57P03"].contains(state) { return true }
            // The exporting transaction ended (its connection was terminated): a new attempt
            // exports a new snapshot.
            return state == "22023" && serverText.contains("invalid snapshot identifier")
        }
        return ["server closed the connection", "terminating connection", "no connection to the server",
                "Connection refused", "the database system is", "lock timeout", "could not obtain lock",
                "invalid snapshot identifier"].contains { serverText.contains($0) }
    }

    public var hint: String {
        if context == "reading the connection string" {
            return "check 'connection' in the config: a value with spaces or quotes needs single quotes (password='a b'); better, keep the password in ~/.pgpass"
        }
        if context.contains("pg_restore"), serverText.contains("role \""), serverText.contains("does not exist") {
            return "the objects' owner role is missing on this server: create it, or pass --no-owner"
        }
        if serverText.contains("row-level security") {
            return "give the backup role BYPASSRLS (or make it the table owner); a filtered copy would lose rows"
        }
        switch sqlState {
        case "28P01", "28000": return "check the user and password (PGPASSWORD or ~/.pgpass)"
        case "3D000": return "check the database name in the connection string"
        case "42501": return "grant the backup role the privilege it lacks"
        default:
            if serverText.contains("Connection refused") || serverText.contains("could not connect") {
                return "check that PostgreSQL runs and the host and port are right"
            }
            if message != serverText {
                return "PostgreSQL's own text, which may quote data, is shown only with --show-values"
            }
            return "see PostgreSQL's message"
        }
    }
}
