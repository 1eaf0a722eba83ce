import Foundation

/// A libpq failure at the adapter boundary: libpq's message (first line), the SQLSTATE when the
/// server sent one, what we were doing, and a hint. Never carries the connection password.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public var sqlState: String?
    public var message: String
    public var context: String

    public init(sqlState: String? = nil, message: String, context: String) {
        self.sqlState = sqlState
        let first = message.split(separator: "\n").first.map(String.init) ?? message
        self.message = first.trimmingCharacters(in: .whitespaces)
        self.context = context
    }

    public var description: String { "\(context): \(message)" }

    /// Failures that a new attempt under a new snapshot can get past: the server restarting or
    /// dropping the connection, serialization failures, deadlocks, lock timeouts.
    public var isTransient: Bool {
        if let state = sqlState {
            if state.hasPrefix("08") || ["40001", "40P01", "55P03", "57P01", "57P02", "57P03"].contains(state) { return true }
            // The exporting transaction ended (its connection was terminated): a new attempt
            // exports a new snapshot.
            return state == "22023" && message.contains("invalid snapshot identifier")
        }
        return ["server closed the connection", "terminating connection", "no connection to the server",
                "Connection refused", "the database system is", "lock timeout", "could not obtain lock",
                "invalid snapshot identifier"].contains { message.contains($0) }
    }

    public var hint: String {
        if context.contains("pg_restore"), message.contains("role \""), message.contains("does not exist") {
            return "the objects' owner role is missing on this server: create it, or pass --no-owner"
        }
        if message.contains("row-level security") {
            return "give the backup role BYPASSRLS (or make it the table owner); a filtered copy would lose rows"
        }
        switch sqlState {
        case "28P01", "28000": return "check the user and password (PGPASSWORD or ~/.pgpass)"
        case "3D000": return "check the database name in the connection string"
        case "42501": return "grant the backup role the privilege it lacks"
        default:
            if message.contains("Connection refused") || message.contains("could not connect") {
                return "check that PostgreSQL runs and the host and port are right"
            }
            return "see PostgreSQL's message"
        }
    }
}
