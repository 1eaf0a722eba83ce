import EHRTestSupport
import Foundation
import Testing

/// The steps around the load: the parity proof failing, kill -9 at each step (the target as
/// before, the next run cleaning up), and a target schema that already holds tables.
@Suite struct MigrateFlowTests {
    /// Background migrate of a copy of the EHR fixture into `db`, paused or killed by a hook.
    static func background(_ path: String, _ pg: PGServer, _ db: String, _ extra: [String] = [],
                           hooks: [String: String]) throws -> Background {
        var env = hooks
        env["TZ"] = migrateTimeZone
        return try Background(["migrate", "--from", path, "--to", pg.connection(db)] + extra,
                              config: "/nonexistent/ehrdata-migrate-tests.yaml", environment: env)
    }

    static func stagingSchemas(_ pg: PGServer, _ db: String) throws -> [String] {
        try pg.userSchemas(db).filter { $0.hasPrefix("ehrdata_staging_") }
    }

    static func copies(in dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("ehrdata-migrate-") }
    }

    /// One cell changed in the staging schema between the load and the proof: 80, naming the
    /// table and not the value; the target schema unchanged, the staging schema dropped.
    @Test func aChangedCellFailsTheProof() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("parity")
        let dir = TempDirectory("ehrdata-migf")
        let path = dir.file("ehr.sqlite")
        try copyEHRFixture(to: path)
        try pg.script(db, "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO PUBLIC;")
        let before = try pg.schemaDump(db)

        let run = try Self.background(path, pg, db, ["--schema", "app"], hooks: ["EHRDATA_TEST_PAUSE_AT": "migrate-before-proof"])
        defer { run.killIfRunning() }
        try requirePaused(run, at: "migrate-before-proof")
        let staging = try Self.stagingSchemas(pg, db)
        try #require(staging.count == 1, "staging schemas while paused: \(staging)")
        try pg.value(db, "UPDATE \(staging[0]).notes SET body = 'CHANGED-SECRET-9' WHERE id = (SELECT min(id) FROM \(staging[0]).notes)")
        run.resume()
        let r = finishBackground(run, what: "the paused migrate")

        expectFailure(r, code: 80, mentions: ["parity", "notes"])
        for other in ["patients", "observations", "documents"] {
            #expect(!r.stderr.contains("tables differ after loading: \(other)"), "names an unchanged table: \(r.stderr)")
        }
        expectNoValue("CHANGED-SECRET-9", in: r, "parity failure")
        #expect(try pg.schemaDump(db) == before, "the target changed after a failed proof")
        #expect(try Self.stagingSchemas(pg, db).isEmpty, "the staging schema was not dropped")
        #expect(try pg.userRelations(db).isEmpty)
    }

    /// kill -9 during the load or before the swap's COMMIT: the target as before, a staging
    /// schema left (and the source copy of a rollback-journal source; a WAL source is read in
    /// place); the next run removes both and succeeds.
    @Test(arguments: [("migrate-loaded-part", "wal"), ("migrate-before-proof", "delete"),
                      ("migrate-swap-begin", "wal"), ("migrate-swap-commit", "delete")])
    func killedBeforeTheSwapCommits(at point: String, journal: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("kill")
        let dir = TempDirectory("ehrdata-migf")
        let temp = TempDirectory("ehrdata-migf-tmp")
        let path = dir.file("ehr.sqlite")
        try copyEHRFixture(to: path)
        _ = try sqliteValue(path, "PRAGMA journal_mode = \(journal)")
        try pg.script(db, "CREATE SCHEMA app; CREATE TABLE public.unrelated (id int); INSERT INTO public.unrelated VALUES (1);")
        let before = try pg.schemaContentDump(db, schema: "app"), relationsBefore = try pg.userRelations(db)

        let options = ["--schema", "app", "--temp-dir", temp.path, "--jobs", "2"]
        let run = try Self.background(path, pg, db, options,
                                      hooks: ["EHRDATA_TEST_KILL_AT": point, "EHRDATA_TEST_SPLIT_ROWS": "100"])
        defer { run.killIfRunning() }
        let r = finishBackground(run, what: "the migrate killed at \(point)")
        #expect(run.process.terminationReason == .uncaughtSignal && r.status == SIGKILL,
                "expected a kill at \(point), got exit \(r.status): \(r.stderr)")
        try pg.waitForMigrateSessionsToEnd(db)

        #expect(try pg.schemaContentDump(db, schema: "app") == before, "the target schema changed after a kill at \(point)")
        #expect(try pg.userRelations(db).filter { !$0.hasPrefix("ehrdata_staging_") } == relationsBefore)
        #expect(try Self.stagingSchemas(pg, db).count == 1, "no staging schema left by the kill at \(point): the kill came too early")
        #expect(try Self.copies(in: temp.path).count == (journal == "wal" ? 0 : 1), "source copies after the kill at \(point)")

        let again = try migrate(["--from", path, "--to", pg.connection(db)] + options)
        try expectMigrated(again)
        #expect(try Self.stagingSchemas(pg, db).isEmpty, "the rerun left a staging schema")
        let leftCopies = try Self.copies(in: temp.path)
        #expect(leftCopies.isEmpty, "the rerun left source copies: \(leftCopies)")
        #expect(try pg.value(db, "SELECT count(*) FROM app.observations") == (try sqliteValue(path, "SELECT count(*) FROM observations")))
        #expect(try pg.value(db, "SELECT count(*) FROM public.unrelated") == "1")
    }

    /// A schema that already holds tables, its owner and grants.
    static func occupied(_ pg: PGServer, _ dbs: PGDatabases, _ db: String) throws -> (owner: String, reader: String) {
        let owner = try dbs.createRole("owner", "NOLOGIN")
        let reader = try dbs.createRole("reader", "NOLOGIN")
        try pg.script(db, """
            CREATE SCHEMA app AUTHORIZATION \(owner);
            GRANT USAGE ON SCHEMA app TO \(reader);
            GRANT CREATE ON SCHEMA app TO \(reader) WITH GRANT OPTION;
            CREATE TABLE app.legacy (id int PRIMARY KEY, v text);
            INSERT INTO app.legacy VALUES (1, 'old one'), (2, 'old two');
            """)
        return (owner, reader)
    }

    static func aclOf(_ pg: PGServer, _ db: String, _ schema: String) throws -> String {
        try pg.value(db, "SELECT pg_get_userbyid(nspowner) || ' ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = \(literal(schema))")
    }

    /// Without --replace: 73, nothing written. With it: the old schema kept aside with its
    /// data, the new one in its place with its owner and grants.
    @Test func anOccupiedSchemaIsReplacedOnlyWhenAsked() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("replace")
        let dir = TempDirectory("ehrdata-migf")
        let path = dir.file("ehr.sqlite")
        try copyEHRFixture(to: path)
        let (owner, reader) = try Self.occupied(pg, dbs, db)
        let before = try pg.schemaContentDump(db, schema: "app"), acl = try Self.aclOf(pg, db, "app")
        #expect(acl.contains(reader) && acl.hasPrefix(owner))

        let refused = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app"])
        expectFailure(refused, code: 73, mentions: ["app", "--replace"])
        #expect(try pg.schemaContentDump(db, schema: "app") == before)
        #expect(try pg.userSchemas(db) == ["app", "public"])

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--replace", "--json"])
        try expectMigrated(r)
        let kept = try #require(try migrateReport(r)["replacedSchemaKeptAs"] as? String)
        #expect(kept.hasPrefix("app_pre_migrate_"))
        #expect(try pg.userSchemas(db).sorted() == ["app", kept, "public"].sorted())
        #expect(try pg.rows(db, "SELECT id, v FROM \"\(kept)\".legacy ORDER BY id") == [["1", "old one"], ["2", "old two"]])
        #expect(try Self.aclOf(pg, db, kept) == acl)
        #expect(try Self.aclOf(pg, db, "app") == acl, "the new schema's owner and grants differ from the old one's")
        #expect(try pg.value(db, "SELECT to_regclass('app.legacy') IS NULL") == "t")
        #expect(try pg.value(db, "SELECT count(*) FROM app.patients") == (try sqliteValue(path, "SELECT count(*) FROM patients")))
    }

    /// kill -9 inside the --replace swap, before and after the renames but before COMMIT: the old
    /// schema is in place, whole, and nothing is kept aside; a rerun replaces it.
    @Test(arguments: ["migrate-swap-rename", "migrate-swap-commit"])
    func killedDuringTheReplaceSwap(at point: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("rkill")
        let dir = TempDirectory("ehrdata-migf")
        let path = dir.file("ehr.sqlite")
        try copyEHRFixture(to: path)
        _ = try Self.occupied(pg, dbs, db)
        let before = try pg.schemaContentDump(db, schema: "app"), acl = try Self.aclOf(pg, db, "app")

        let run = try Self.background(path, pg, db, ["--schema", "app", "--replace"], hooks: ["EHRDATA_TEST_KILL_AT": point])
        defer { run.killIfRunning() }
        let r = finishBackground(run, what: "the migrate killed at \(point)")
        #expect(r.status == SIGKILL && run.process.terminationReason == .uncaughtSignal, "expected a kill at \(point), got \(r.status): \(r.stderr)")
        try pg.waitForMigrateSessionsToEnd(db)

        #expect(try pg.schemaContentDump(db, schema: "app") == before)
        #expect(try Self.aclOf(pg, db, "app") == acl)
        #expect(try pg.userSchemas(db).filter { $0.hasPrefix("app_pre_migrate_") }.isEmpty)
        #expect(try Self.stagingSchemas(pg, db).count == 1)

        let again = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--replace"])
        try expectMigrated(again)
        #expect(try Self.stagingSchemas(pg, db).isEmpty)
        #expect(try pg.userSchemas(db).filter { $0.hasPrefix("app_pre_migrate_") }.count == 1)
        #expect(try pg.value(db, "SELECT count(*) FROM app.notes") == (try sqliteValue(path, "SELECT count(*) FROM notes")))
    }

    /// A second migrate into the same schema while one runs: 75, nothing written; another
    /// schema of the same database is not blocked.
    @Test func oneMigratePerSchemaAtATime() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("lock")
        let dir = TempDirectory("ehrdata-migf")
        let path = dir.file("ehr.sqlite")
        try copyEHRFixture(to: path)

        let first = try Self.background(path, pg, db, ["--schema", "app"], hooks: ["EHRDATA_TEST_PAUSE_AT": "migrate-before-proof"])
        defer { first.killIfRunning() }
        try requirePaused(first, at: "migrate-before-proof")
        let second = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app"])
        expectFailure(second, code: 75, mentions: ["another ehrdata migrate", "app"])
        #expect(try Self.stagingSchemas(pg, db).count == 1, "the refused run touched the first one's staging schema")
        let other = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "other"])
        try expectMigrated(other)
        first.resume()
        let r = finishBackground(first, what: "the paused migrate")
        #expect(r.status == 0, "the first migrate failed after the second was refused: \(r.stderr)")
        #expect(try pg.value(db, "SELECT count(*) FROM app.patients") == (try sqliteValue(path, "SELECT count(*) FROM patients")))
        #expect(try Self.stagingSchemas(pg, db).isEmpty)
    }
}
