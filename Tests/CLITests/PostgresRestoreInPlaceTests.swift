import EHRTestSupport
import Foundation
import Testing

/// `restore SNAPSHOT --source fhir --yes` without a target: the snapshot is loaded into a fresh
/// database and verified, then the current database is renamed to `<name>_pre_restore_<stamp>`
/// (kept, never dropped) and the restored one takes its name.
@Suite struct PostgresRestoreInPlaceTests {
    /// A database with ten notes, backed up; then five more notes written after the snapshot.
    struct Changed {
        let pg: PGServer
        let dbs: PGDatabases
        let db: String
        let ws: Workspace
        let atBackup: [String: String]
        let changed: [String: String]
    }

    static func backedUpThenChanged(_ pg: PGServer, _ dbs: PGDatabases) throws -> Changed {
        let db = try dbs.create("orig")
        try pg.script(db, """
            CREATE TABLE notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);
            INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 10) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let atBackup = try pg.tableDigests(db)
        try pg.script(db, "INSERT INTO notes (body) SELECT 'after the snapshot' FROM generate_series(1, 5);")
        let changed = try pg.tableDigests(db)
        try #require(changed != atBackup)
        return Changed(pg: pg, dbs: dbs, db: db, ws: ws, atBackup: atBackup, changed: changed)
    }

    func keptDatabases(_ c: Changed) throws -> [String] {
        try c.pg.databases(startingWith: c.db + "_pre_restore_")
    }

    /// Every database whose name contains the test database's name: the original, what a
    /// restore keeps, and any scratch database named after it.
    func relatedDatabases(_ c: Changed) throws -> [String] {
        try c.pg.rows("postgres", "SELECT datname FROM pg_database WHERE strpos(datname, \(literal(c.db))) > 0 ORDER BY 1")
            .map { $0[0] }
    }

    @Test func swapKeepsTheReplacedDatabase() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try Self.backedUpThenChanged(pg, dbs)

        // Database-level properties, which pg_dump does not carry, must survive the swap.
        let owner = "ehrt_owner_\(UInt32.random(in: 0 ... .max))"
        let db = "\"" + c.db.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try pg.script("postgres", """
            CREATE ROLE \(owner);
            ALTER DATABASE \(db) OWNER TO \(owner);
            ALTER DATABASE \(db) SET work_mem = '7MB';
            ALTER DATABASE \(db) SET search_path = app, public;
            REVOKE CONNECT ON DATABASE \(db) FROM PUBLIC;
            GRANT CONNECT ON DATABASE \(db) TO postgres;
            COMMENT ON DATABASE \(db) IS 'FHIR store — Zoë';
            """)
        let properties = """
            SELECT pg_get_userbyid(datdba), array_to_string(ARRAY(SELECT unnest(setconfig) ORDER BY 1), ';'),
                   has_database_privilege('public', oid, 'CONNECT'), shobj_description(oid, 'pg_database')
            FROM pg_database d LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
            WHERE datname = current_database()
            """
        let before = try pg.value(c.db, properties)

        let r = try c.ws.run(["restore", "latest", "--source", "fhir", "--yes"])
        try #require(r.status == 0, "in-place restore failed: \(r.stderr)")
        #expect(try pg.value(c.db, properties) == before, "owner, settings, grants or comment were lost")
        #expect(before.contains(owner) && before.contains("work_mem=7MB"), "setup did not take: \(before)")

        // The name now holds the snapshot's content.
        #expect(try pg.tableDigests(c.db) == c.atBackup)
        #expect(try pg.value(c.db, "SELECT count(*) FROM notes WHERE body = 'after the snapshot'") == "0")
        // What it replaced is kept under <name>_pre_restore_<YYYYMMDDTHHMMSS>, with the later rows.
        let kept = try keptDatabases(c)
        try #require(kept.count == 1, "expected one kept database, found \(kept)")
        let stamp = String(kept[0].dropFirst((c.db + "_pre_restore_").count))
        #expect(stamp.range(of: #"^[0-9]{8}T[0-9]{6}$"#, options: .regularExpression) != nil,
                "kept database name \(kept[0]) does not end in YYYYMMDDTHHMMSS")
        #expect(try pg.tableDigests(kept[0]) == c.changed)
        #expect(try pg.value(kept[0], "SELECT count(*) FROM notes WHERE body = 'after the snapshot'") == "5")
        // Both accept connections; the restored one carries on from the snapshot's identity.
        for name in [c.db, kept[0]] {
            #expect(try pg.value("postgres", "SELECT datallowconn FROM pg_database WHERE datname = \(literal(name))") == "t")
        }
        #expect(try pg.value(c.db, "INSERT INTO notes (body) VALUES ('new') RETURNING id") == "11")
        // Nothing else named after the database is left behind (no scratch database).
        #expect(try relatedDatabases(c) == [c.db, kept[0]].sorted())
    }

    /// Killed after the restored copy is loaded and verified but before the swap: the original
    /// is untouched, never stopped answering, and nothing was renamed.
    @Test func killedBeforeTheSwapLeavesTheOriginalUntouched() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try Self.backedUpThenChanged(pg, dbs)

        let restore = try Background(["restore", "latest", "--source", "fhir", "--yes"], config: c.ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-before-swap"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "postgres-before-swap")
        // While the restored copy waits to be swapped in, the original still serves its current data.
        #expect(try pg.tableDigests(c.db) == c.changed)
        #expect(try pg.value(c.db, "SELECT count(*) FROM notes") == "15")
        #expect(try keptDatabases(c).isEmpty, "the original was renamed before the swap point")

        restore.kill9()
        #expect(try pg.tableDigests(c.db) == c.changed, "the original changed")
        // A new connection works: the original was not left closed to connections.
        #expect(try pg.value(c.db, "SELECT 'still here'") == "still here")
        #expect(try pg.value("postgres", "SELECT datallowconn FROM pg_database WHERE datname = \(literal(c.db))") == "t")
        #expect(try keptDatabases(c).isEmpty, "a _pre_restore_ database exists after a restore killed before its swap")
    }

    @Test func dryRunShowsThePlanAndChangesNothing() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try Self.backedUpThenChanged(pg, dbs)
        let databasesBefore = try relatedDatabases(c)
        let archiveBefore = try c.ws.archiveState()

        let r = try c.ws.run(["restore", "latest", "--source", "fhir", "--dry-run"])
        #expect(r.status == 0, "dry run failed: \(r.stderr)")
        #expect(r.stdout.contains(c.db), "the plan does not name the database: \(r.stdout)")
        #expect(r.stdout.contains("_pre_restore_"), "the plan does not say what it keeps: \(r.stdout)")

        #expect(try relatedDatabases(c) == databasesBefore)
        #expect(try pg.tableDigests(c.db) == c.changed)
        #expect(try c.ws.archiveState() == archiveBefore)
    }

    @Test func inPlaceWithoutATerminalNeedsYes() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try Self.backedUpThenChanged(pg, dbs)
        let databasesBefore = try relatedDatabases(c)
        expectFailure(try c.ws.run(["restore", "latest", "--source", "fhir"]), code: 64, mentions: ["--yes"])
        #expect(try relatedDatabases(c) == databasesBefore)
        #expect(try pg.tableDigests(c.db) == c.changed)
    }
}
