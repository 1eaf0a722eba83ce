import EHRArchive
import EHRCore
import EHRPostgres
import Foundation

/// The work database of a restore that was killed, found through its intent record. The record
/// is untrusted (anyone who can write the archive can write one), so a database is dropped only
/// if the server itself shows it to be such a leftover.
extension PostgresRestore {
    /// Whether the database this restore loads into exists already (before it is created).
    func workExists() throws -> Bool {
        try databaseExists(work, admin())
    }

    enum LeftoverOutcome { case dropped(String), gone, notOurs(String) }

    /// Drops `record`'s work database if it exists and is a restore's own: it has the in-place
    /// work name of the configured database (`<db>_restoring_<stamp>`), or it still carries the
    /// record's mark as its comment. Anything else is left alone.
    static func dropLeftover(_ record: IntentRecord.Postgres, connectionString: String) throws -> LeftoverOutcome {
        guard let name = record.workDatabase else { return .gone }
        let configured = try PostgresConnection.parse(connectionString).last { $0.keyword == "dbname" }?.value
        let inPlaceName = configured.map { name.range(of: "^" + NSRegularExpression.escapedPattern(for: $0) + "_restoring_[0-9]{8}T[0-9]{6}$",
                                                      options: .regularExpression) != nil } ?? false
        let maintenance = name == "postgres" || configured == "postgres" ? "template1" : "postgres"
        let admin = try PostgresConnection(connectionString: connectionString,
                                           overrides: [("dbname", maintenance), ("application_name", "ehrdata restore")])
        let comment = try admin.rows("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = \(admin.literal(name))")
        guard let row = comment.first else { return .gone }
        let marked = record.mark.map { row.first == $0 } ?? false
        guard inPlaceName || marked else { return .notOurs(name) }
        try admin.execute("DROP DATABASE IF EXISTS \(PostgresConnection.identifier(name)) WITH (FORCE)")
        return .dropped(name)
    }
}
