import EHRTestSupport
import Foundation
import Testing

// Helpers for the PostgreSQL end-to-end tests. They drive the real `ehrdata` binary against the
// throwaway server scripts/test.sh starts (scripts/with-postgres.sh exports EHRDATA_TEST_PG), and
// check the results with PostgreSQL's own tools (psql, pg_dump, pgbench), never with ehrdata's
// code.

/// The test server, from EHRDATA_TEST_PG ("host=… port=… user=postgres dbname=postgres").
/// Without it the test fails: PostgreSQL tests never skip.
struct PGServer {
    let settings: [String: String]

    /// `variable`: EHRDATA_TEST_PG, or EHRDATA_TEST_PG2 for the second, bare server.
    init(variable: String = "EHRDATA_TEST_PG") throws {
        let conninfo = try #require(ProcessInfo.processInfo.environment[variable],
                                    "\(variable) is not set: run the suite with scripts/test.sh (or scripts/with-postgres.sh swift test), which starts PostgreSQL")
        var settings: [String: String] = [:]
        for pair in conninfo.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { settings[parts[0]] = parts[1] }
        }
        try #require(settings["host"] != nil && settings["port"] != nil,
                     "\(variable) has no host or port: '\(conninfo)'")
        self.settings = settings
    }

    var host: String { settings["host"]! }
    var port: String { settings["port"]! }
    var user: String { settings["user"] ?? "postgres" }

    /// A libpq connection string for `database` (as `user`, default the superuser).
    func connection(_ database: String, user: String? = nil) -> String {
        "host=\(host) port=\(port) user=\(user ?? self.user) dbname=\(database)"
    }

    /// The server binaries' directory (pg_dump, pgbench): `pg_config --bindir`.
    static let bindir: String = {
        let r = try? Run.program("/usr/bin/pg_config", ["--bindir"])
        let dir = r?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return dir.isEmpty ? "/usr/lib/postgresql/15/bin" : dir
    }()
    static var pgDump: String { bindir + "/pg_dump" }
    static var pgbench: String { bindir + "/pgbench" }
    static let psqlPath = "/usr/bin/psql"

    static func psqlArguments(_ conninfo: String) -> [String] {
        ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", conninfo]
    }

    /// Runs one SQL string with psql and returns the outcome, whatever it is.
    @discardableResult
    func psql(_ database: String, _ sql: String, user: String? = nil,
              environment: [String: String] = [:]) throws -> ProcessResult {
        try Run.program(Self.psqlPath, Self.psqlArguments(connection(database, user: user)) + ["-c", sql],
                        environment: environment)
    }

    /// Runs SQL that must succeed (a test's setup) and returns its output, trimmed.
    @discardableResult
    func value(_ database: String, _ sql: String, user: String? = nil,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try psql(database, sql, user: user)
        try #require(r.status == 0, "psql -d \(database) -c \"\(sql.prefix(200))\" failed: \(r.stderr)",
                     sourceLocation: sourceLocation)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Rows of a query, fields split on psql's unit separator (values may hold '|' or newlines).
    func rows(_ database: String, _ sql: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String]] {
        let r = try Run.program(Self.psqlPath, Self.psqlArguments(connection(database))
                                    + ["-F", "\u{1F}", "-R", "\u{1E}", "-c", sql])
        try #require(r.status == 0, "psql -d \(database) -c \"\(sql.prefix(200))\" failed: \(r.stderr)",
                     sourceLocation: sourceLocation)
        var out = r.stdout
        if out.hasSuffix("\n") { out.removeLast() }
        if out.isEmpty { return [] }
        return out.split(separator: "\u{1E}", omittingEmptySubsequences: false)
            .map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) }
    }

    /// Runs a multi-statement script (psql -f -, ON_ERROR_STOP): test setup that must succeed.
    func script(_ database: String, _ sql: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Run.program(Self.psqlPath, Self.psqlArguments(connection(database)) + ["-f", "-"], stdin: sql)
        try #require(r.status == 0, "psql script on \(database) failed: \(r.stderr)", sourceLocation: sourceLocation)
    }

    /// Loads an SQL file (psql -f FILE, ON_ERROR_STOP).
    func load(_ database: String, file: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Run.program(Self.psqlPath, Self.psqlArguments(connection(database)) + ["-f", file])
        try #require(r.status == 0, "loading \(file) into \(database) failed: \(r.stderr)", sourceLocation: sourceLocation)
    }

    /// Databases whose name starts with `prefix`, sorted.
    func databases(startingWith prefix: String) throws -> [String] {
        try rows("postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, \(literal(prefix))) ORDER BY 1")
            .map { $0[0] }
    }

    func exists(database: String) throws -> Bool {
        try value("postgres", "SELECT count(*) FROM pg_database WHERE datname = \(literal(database))") == "1"
    }

    // MARK: What "the same database" means

    /// `pg_dump --schema-only`, without what differs between two dumps of equal schemas: comment
    /// lines (they carry the database name and versions), blank lines, the per-run
    /// `\restrict`/`\unrestrict` keys, and session settings.
    func schemaDump(_ database: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try Run.program(Self.pgDump, ["--schema-only", "-d", connection(database)])
        try #require(r.status == 0, "pg_dump --schema-only \(database) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout.split(separator: "\n").filter { line in
            !(line.hasPrefix("--") || line.allSatisfy(\.isWhitespace) || line.hasPrefix("\\restrict")
              || line.hasPrefix("\\unrestrict") || line.hasPrefix("SET ")
              || line.hasPrefix("SELECT pg_catalog.set_config"))
        }.joined(separator: "\n")
    }

    /// For every table (plain, partitioned parent, and leaf partition) in `schema`:
    /// "rows md5-of-the-ordered-rows". Equal maps mean equal content.
    func tableDigests(_ database: String, schema: String = "public") throws -> [String: String] {
        let queries = try rows(database, """
            SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text), '''')) FROM %I.%I t',
                          c.relname, n.nspname, c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(literal(schema)) AND c.relkind IN ('r', 'p') ORDER BY c.relname
            """).map { $0[0] }
        if queries.isEmpty { return [:] }
        var digests: [String: String] = [:]
        for row in try rows(database, queries.joined(separator: "\nUNION ALL\n")) {
            digests[row[0]] = row[1] + " " + row[2]
        }
        return digests
    }

    /// Every sequence (identity ones included): "last_value is_called".
    func sequenceStates(_ database: String) throws -> [String: String] {
        let names = try rows(database, "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1")
            .map { $0[0] }
        if names.isEmpty { return [:] }
        let sql = names.map { "SELECT \(literal($0)), last_value, is_called FROM \($0)" }.joined(separator: "\nUNION ALL\n")
        var states: [String: String] = [:]
        for row in try rows(database, sql) { states[row[0]] = row[1] + " " + row[2] }
        return states
    }

    /// Catalog state pg_dump does not show: indexes that exist but are invalid or not ready,
    /// materialized views' populated flag; plus triggers' enabled state and constraints'
    /// validated/deferrable flags (shown by pg_dump too, checked directly to name them).
    func catalogFacts(_ database: String) throws -> [String] {
        try rows(database, """
            SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname || ' enabled=' || tgenabled::text
              FROM pg_trigger WHERE NOT tgisinternal
            UNION ALL
            SELECT 'constraint ' || coalesce(conrelid::regclass::text, '-') || ' ' || conname || ' validated=' || convalidated::text
                   || ' deferrable=' || condeferrable::text || ' deferred=' || condeferred::text
              FROM pg_constraint WHERE connamespace = 'public'::regnamespace
            UNION ALL
            SELECT 'index ' || i.indexrelid::regclass::text || ' valid=' || i.indisvalid::text || ' ready=' || i.indisready::text
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace
            UNION ALL
            SELECT 'matview ' || oid::regclass::text || ' populated=' || relispopulated::text
              FROM pg_class WHERE relkind = 'm' AND relnamespace = 'public'::regnamespace
            ORDER BY 1
            """).map { $0[0] }
    }

    /// Asserts that `restored` holds exactly what `original` holds: schema, every table's rows,
    /// every sequence's position, and the catalog facts above.
    func expectSameDatabase(_ original: String, _ restored: String,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        // Each comparison is reduced to a Bool first so a failure prints what differs, not both
        // whole values.
        let (schemaA, schemaB) = (try schemaDump(original), try schemaDump(restored))
        let sameSchema = schemaA == schemaB
        #expect(sameSchema, "schemas differ: \(firstDifference(schemaA, schemaB))", sourceLocation: sourceLocation)

        let (tablesA, tablesB) = (try tableDigests(original), try tableDigests(restored))
        #expect(!tablesA.isEmpty, "the original has no tables", sourceLocation: sourceLocation)
        let sameTables = Set(tablesA.keys) == Set(tablesB.keys)
        #expect(sameTables, "tables differ: missing \(Set(tablesA.keys).subtracting(tablesB.keys).sorted()), extra \(Set(tablesB.keys).subtracting(tablesA.keys).sorted())",
                sourceLocation: sourceLocation)
        for name in tablesA.keys.sorted() {
            guard let a = tablesA[name], let b = tablesB[name] else { continue }
            let sameRows = a == b
            #expect(sameRows, "table \(name): original (rows md5) \(a), restored \(b)", sourceLocation: sourceLocation)
        }

        let (seqA, seqB) = (try sequenceStates(original), try sequenceStates(restored))
        let differingSequences = Set(seqA.keys).union(seqB.keys).sorted().filter { seqA[$0] != seqB[$0] }
        let sequenceReport = differingSequences
            .map { "\($0): original \(seqA[$0] ?? "missing"), restored \(seqB[$0] ?? "missing")" }.joined(separator: "; ")
        #expect(differingSequences.isEmpty, "sequences differ (last_value is_called): \(sequenceReport)",
                sourceLocation: sourceLocation)

        let (factsA, factsB) = (try catalogFacts(original), try catalogFacts(restored))
        let onlyA = factsA.filter { !factsB.contains($0) }, onlyB = factsB.filter { !factsA.contains($0) }
        #expect(onlyA.isEmpty && onlyB.isEmpty, "catalog state differs: only in the original \(onlyA), only in the restored \(onlyB)",
                sourceLocation: sourceLocation)
    }
}

/// An SQL string literal.
func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

/// Where two texts first differ, line by line, for readable failure messages.
func firstDifference(_ a: String, _ b: String) -> String {
    let la = a.split(separator: "\n", omittingEmptySubsequences: false)
    let lb = b.split(separator: "\n", omittingEmptySubsequences: false)
    for i in 0..<max(la.count, lb.count) {
        let x = i < la.count ? String(la[i]) : "<end>", y = i < lb.count ? String(lb[i]) : "<end>"
        if x != y { return "line \(i + 1): original '\(x)' vs restored '\(y)'" }
    }
    return "none"
}

func randomHex(_ digits: Int = 8) -> String {
    String((0..<digits).map { _ in "0123456789abcdef".randomElement()! })
}

/// A test's own databases and roles on the shared server, named `ehrt_<hex>_…` so that
/// concurrent tests never meet. Everything under the test's prefix (including what ehrdata
/// derives from it, such as `<name>_pre_restore_<stamp>`) is dropped when the value goes away,
/// connections and all.
final class PGDatabases {
    let server: PGServer
    let prefix: String
    private var roles: [String] = []

    init(_ server: PGServer) {
        self.server = server
        prefix = "ehrt_" + randomHex()
    }

    /// A name under this test's prefix, for a database ehrdata is to create.
    func name(_ label: String) -> String { prefix + "_" + label }

    /// Creates an empty database (UTF8, from template0) and returns its name.
    func create(_ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let db = name(label)
        try server.value("postgres", "CREATE DATABASE \(db) TEMPLATE template0 ENCODING 'UTF8'", sourceLocation: sourceLocation)
        return db
    }

    /// Creates a role (dropped at the end) and returns its name. `options` as in CREATE ROLE.
    func createRole(_ label: String, _ options: String = "LOGIN", before: String = "",
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let role = name(label)
        try server.script("postgres", "\(before)\nCREATE ROLE \(role) \(options);", sourceLocation: sourceLocation)
        roles.append(role)
        return role
    }

    /// Drops every database under the prefix (terminating their connections) and the roles.
    /// Tests call it in a `defer`, which also keeps the value alive until the end of the test.
    func drop() {
        for db in (try? server.databases(startingWith: prefix + "_")) ?? [] {
            _ = try? server.psql("postgres", "DROP DATABASE IF EXISTS \"\(db)\" WITH (FORCE)")
        }
        for role in roles {
            _ = try? server.psql("postgres", "DROP ROLE IF EXISTS \(role)")
        }
        roles = []
    }

    deinit { drop() }
}

/// One extra line at the top of the server's pg_hba.conf (the test server trusts everyone on
/// 127.0.0.1; a line for one role makes that role authenticate), removed again when the value
/// goes away. The file is rewritten in place so it keeps its owner (postgres) and mode.
final class HBALine {
    let server: PGServer
    let path: String
    let line: String

    init(_ server: PGServer, _ line: String) throws {
        self.server = server
        self.line = line
        path = try server.value("postgres", "SHOW hba_file")
        let current = try String(contentsOfFile: path, encoding: .utf8)
        try Self.rewrite(path, line + "\n" + current)
        let errors = try server.value("postgres", "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
        try #require(errors == "0", "pg_hba.conf has errors after adding '\(line)'")
        try server.value("postgres", "SELECT pg_reload_conf()")
    }

    deinit { remove() }

    /// Takes the line out again and reloads. Tests call it in a `defer`.
    func remove() {
        if let current = try? String(contentsOfFile: path, encoding: .utf8), current.contains(line) {
            let kept = current.split(separator: "\n", omittingEmptySubsequences: false).filter { $0 != line }
            try? Self.rewrite(path, kept.joined(separator: "\n"))
            _ = try? server.psql("postgres", "SELECT pg_reload_conf()")
        }
    }

    private static func rewrite(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }
}

/// A helper program (pgbench, a blocking psql) running in the background, its output in files so
/// it can never block on a full pipe. Killed if still running when the value goes away.
final class BackgroundProgram {
    let process = Process()
    private let logs = TempDirectory("ehrdata-bg")

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        _ = FileManager.default.createFile(atPath: logs.file("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: logs.file("err"), contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: logs.file("out"))
        process.standardError = FileHandle(forWritingAtPath: logs.file("err"))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// Waits for the program to exit, polling at most `iterations` times; false if it still runs.
    func waitForExit(iterations: Int = 3000) -> Bool {
        eventually(iterations: iterations) { !process.isRunning }
    }

    /// SIGKILL, then wait. Not SIGTERM: children of the test runner inherit a signal mask that
    /// blocks SIGTERM, SIGINT and SIGALRM (so pgbench's own -T timer never fires either).
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    var output: String {
        ((try? String(contentsOfFile: logs.file("out"), encoding: .utf8)) ?? "")
            + ((try? String(contentsOfFile: logs.file("err"), encoding: .utf8)) ?? "")
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Checks `condition` up to `iterations` times, `intervalMicroseconds` apart. Stops early when
/// `alive` says the process being waited on has exited. Returns whether the condition held.
@discardableResult
func eventually(iterations: Int = 3000, intervalMicroseconds: UInt32 = 20_000, alive: () -> Bool = { true },
          until condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<iterations {
        if try condition() { return true }
        if !alive() { return try condition() }
        usleep(intervalMicroseconds)
    }
    return try condition()
}

/// Waits until a background ehrdata process has paused at its hook; records its output and
/// throws if it exited instead.
func requirePaused(_ process: Background, at point: String,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
    if process.waitUntilPaused() { return }
    let r = process.finish()
    Issue.record("ehrdata exited (\(r.status)) before pausing at \(point): \(r.stderr)", sourceLocation: sourceLocation)
    throw PausedError()
}

struct PausedError: Error {}

extension Background {
    /// For a `defer`: a paused process left behind by a failed test is killed, not leaked.
    func killIfRunning() {
        if process.isRunning { kill9() }
    }
}

/// Waits (bounded) for a resumed background ehrdata process to end. If it is still running after
/// `iterations` polls it is killed and the test fails: it hung (a lock wait, a deadlock).
func finishBackground(_ process: Background, within iterations: Int = 6000, what: String,
            sourceLocation: SourceLocation = #_sourceLocation) -> ProcessResult {
    if !eventually(iterations: iterations, until: { !process.process.isRunning }) {
        Issue.record("\(what) did not finish: killed it", sourceLocation: sourceLocation)
        process.kill9()
    }
    return process.finish()
}

extension Workspace {
    /// Rewrites the config: the SQLite fixture source `backend` (unless `withSQLite` is false)
    /// and a PostgreSQL source.
    func configure(postgres connection: String, name: String = "fhir", withSQLite: Bool = true) throws {
        var text = "archive: \(archive)\nsources:\n"
        if withSQLite { text += "  - name: backend\n    kind: sqlite\n    path: \(source)\n" }
        text += "  - name: \(name)\n    kind: postgres\n    connection: \"\(connection)\"\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// The `postgres` source `name` of a snapshot's manifest.
    func postgresManifest(_ id: String, source name: String = "fhir",
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> PostgresManifest {
        let sources = try #require(try manifestJSON(id)["sources"] as? [[String: Any]], sourceLocation: sourceLocation)
        let source = try #require(sources.first { $0["name"] as? String == name },
                                  "no source '\(name)' in the manifest", sourceLocation: sourceLocation)
        #expect(source["kind"] as? String == "postgres", sourceLocation: sourceLocation)
        let postgres = try #require(source["postgres"] as? [String: Any], "source '\(name)' has no postgres object",
                                    sourceLocation: sourceLocation)
        return PostgresManifest(source: source, postgres: postgres)
    }
}

/// A postgres source's entry in manifest.json.
struct PostgresManifest {
    let source: [String: Any]
    let postgres: [String: Any]

    var files: [[String: Any]] { source["files"] as? [[String: Any]] ?? [] }
    var tables: [[String: Any]] { postgres["tables"] as? [[String: Any]] ?? [] }
    var sequences: [[String: Any]] { postgres["sequences"] as? [[String: Any]] ?? [] }
    var materializedViews: [[String: Any]] { postgres["materializedViews"] as? [[String: Any]] ?? [] }

    /// "schema.table" -> hashedColumns, for the tables that have them.
    var hashedColumns: [String: [String]] {
        var result: [String: [String]] = [:]
        for t in tables {
            if let columns = t["hashedColumns"] as? [String] { result["\(t["schema"] ?? "").\(t["name"] ?? "")"] = columns }
        }
        return result
    }

    func table(_ name: String, schema: String = "public") -> [String: Any]? {
        tables.first { $0["name"] as? String == name && $0["schema"] as? String == schema }
    }

    /// The table's data file name, or nil when it has none (a partitioned parent).
    static func fileName(of table: [String: Any]) -> String? {
        guard let file = table["file"] as? String, !file.isEmpty else { return nil }
        return file
    }

    /// The `files` entry a table's `file` names (the same path, or a path under data/ ending in it).
    func fileEntry(for table: [String: Any]) -> [String: Any]? {
        guard let file = Self.fileName(of: table) else { return nil }
        return files.first { entry in
            guard let path = entry["path"] as? String else { return false }
            return path == file || path.hasSuffix("/" + file)
        }
    }

    /// Row count of a table entry as text.
    static func rows(of table: [String: Any]) -> String? { jsonText(table["rows"]) }
}

/// A JSON scalar as text: numbers without a fraction as integers, strings as they are.
func jsonText(_ value: Any?) -> String? {
    switch value {
    case let s as String: return s
    case let n as NSNumber: return n.stringValue
    default: return nil
    }
}

/// A JSON boolean (or "t"/"true" text).
func jsonBool(_ value: Any?) -> Bool? {
    switch value {
    case let b as Bool: return b
    case let s as String: return s == "t" || s == "true"
    default: return nil
    }
}
