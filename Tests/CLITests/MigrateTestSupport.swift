import EHRTestSupport
import Foundation
import Testing

// Helpers for the `ehrdata migrate` end-to-end tests: SQLite files built with the sqlite3 CLI,
// the real binary run under TZ=America/New_York (so a value read in the machine's zone would
// show), and the results read back with psql, never with ehrdata's own code.

/// The zone every migrate run gets: five hours off UTC in winter, four in summer.
let migrateTimeZone = "America/New_York"

/// Runs `ehrdata migrate ARGS` under TZ=America/New_York. No config unless `config` is given;
/// EHRDATA_CONFIG then points at a file that does not exist, so a run that needed a config
/// would fail (78) instead of reading /etc/ehrdata.
@discardableResult
func migrate(_ arguments: [String], config: String? = nil, environment: [String: String] = [:],
             directory: String? = nil) throws -> ProcessResult {
    var env = environment
    env["TZ"] = migrateTimeZone
    env["EHRDATA_CONFIG"] = config ?? "/nonexistent/ehrdata-migrate-tests.yaml"
    return try Run.program(Run.binary, ["migrate"] + arguments, environment: env, directory: directory)
}

/// Creates a SQLite database at `path` from `sql` with the sqlite3 CLI; the test fails if it
/// does not run.
func makeSQLite(_ path: String, _ sql: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try Run.sqlite3(path, sql)
    try #require(r.status == 0 && r.stderr.isEmpty, "sqlite3 \(path) failed: \(r.stderr)", sourceLocation: sourceLocation)
}

/// One query's output from the sqlite3 CLI (list mode, '|' between fields), trimmed. Waits up to
/// 10 s for a writer's lock, as an application's reader would.
func sqliteValue(_ path: String, _ sql: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let r = try Run.sqlite3(path, ".timeout 10000\n" + sql)
    try #require(r.status == 0, "sqlite3 \(path) '\(sql)' failed: \(r.stderr)", sourceLocation: sourceLocation)
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Asserts a successful migrate and returns its stdout.
@discardableResult
func expectMigrated(_ r: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    try #require(r.status == 0, "migrate failed (\(r.status)): \(r.stderr)\n\(r.stdout)", sourceLocation: sourceLocation)
    return r.stdout
}

/// The `--json` report on stdout.
func migrateReport(_ r: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    return try #require(object as? [String: Any], "the --json report is not an object: \(r.stdout.prefix(300))",
                        sourceLocation: sourceLocation)
}

/// A report's table entries by SQLite name.
func reportTables(_ report: [String: Any]) -> [String: [String: Any]] {
    var out: [String: [String: Any]] = [:]
    for t in report["tables"] as? [[String: Any]] ?? [] { if let name = t["name"] as? String { out[name] = t } }
    return out
}

extension PGServer {
    /// "table.column" -> format_type of every column of every table in `schema`, from pg_attribute.
    func columnTypes(_ db: String, schema: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try rows(db, """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(literal(schema)) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
            """) {
            out[row[0] + "." + row[1]] = row[2]
        }
        return out
    }

    /// The schemas of `db` that are not the system's, sorted.
    func userSchemas(_ db: String) throws -> [String] {
        try rows(db, """
            SELECT nspname FROM pg_namespace
            WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1
            """).map { $0[0] }
    }

    /// Every relation outside the system schemas: "schema.name kind", sorted.
    func userRelations(_ db: String) throws -> [String] {
        try rows(db, """
            SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1
            """).map { $0[0] }
    }

    /// `pg_dump --schema=SCHEMA` (schema and data), without the lines that differ between two
    /// dumps of the same content.
    func schemaContentDump(_ db: String, schema: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try Run.program(Self.pgDump, ["--schema=\(schema)", "-d", connection(db)])
        try #require(r.status == 0, "pg_dump --schema=\(schema) \(db) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout.split(separator: "\n").filter { line in
            !(line.hasPrefix("--") || line.allSatisfy(\.isWhitespace) || line.hasPrefix("\\restrict")
              || line.hasPrefix("\\unrestrict") || line.hasPrefix("SET ") || line.hasPrefix("SELECT pg_catalog.set_config"))
        }.joined(separator: "\n")
    }

    /// Waits (bounded) until no session of a killed `ehrdata migrate` is left on `db`: the
    /// server rolls back its transaction only when it notices the connection is gone.
    func waitForMigrateSessionsToEnd(_ db: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let gone = try eventually(iterations: 1500) {
            try value(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ehrdata migrate'") == "0"
        }
        #expect(gone, "sessions of the killed migrate are still open on \(db)", sourceLocation: sourceLocation)
    }
}

/// Asserts that no output of a run holds `secret` (a value from the data).
func expectNoValue(_ secret: String, in r: ProcessResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!r.stdout.contains(secret), "\(what): stdout shows the value '\(secret)'", sourceLocation: sourceLocation)
    #expect(!r.stderr.contains(secret), "\(what): stderr shows the value '\(secret)'", sourceLocation: sourceLocation)
}

/// A copy of fixtures/ehr.sqlite (the committed file is never opened: a WAL open rewrites
/// its companions).
func copyEHRFixture(to path: String) throws {
    try FileManager.default.copyItem(atPath: Repository.fixture, toPath: path)
}
