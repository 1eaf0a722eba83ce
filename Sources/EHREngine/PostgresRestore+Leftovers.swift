import EHRCore
import EHRPostgres

/// The work database of a restore that was killed, found through its intent record.
extension PostgresRestore {
    /// Drops `name` if it exists; returns whether it did. Only ever called with a name from an
    /// intent record of a dead restore: a database that restore created for itself.
    /// Whether the database this restore loads into exists already (before it is created).
    func workExists() throws -> Bool {
        let maintenance = work == "postgres" || original == "postgres" ? "template1" : "postgres"
        let admin = try PostgresConnection(connectionString: connectionString,
                                           overrides: [("dbname", maintenance), ("application_name", "ehrdata restore")])
        return try admin.value("SELECT count(*) FROM pg_database WHERE datname = \(admin.literal(work))") != "0"
    }

    static func dropLeftover(_ name: String, connectionString: String) throws -> Bool {
        let maintenance = name == "postgres" ? "template1" : "postgres"
        let admin = try PostgresConnection(connectionString: connectionString,
                                           overrides: [("dbname", maintenance), ("application_name", "ehrdata restore")])
        guard try admin.value("SELECT count(*) FROM pg_database WHERE datname = \(admin.literal(name))") != "0" else { return false }
        try admin.execute("DROP DATABASE IF EXISTS \(PostgresConnection.identifier(name)) WITH (FORCE)")
        return true
    }
}
