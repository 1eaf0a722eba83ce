import EHRTestSupport
import Foundation
import Testing

/// Indexes and constraints are built (pg_restore's post-data, in parallel) while the tables are
/// read back. A constraint that fails there still fails the restore cleanly: the error names the
/// constraint, not a row value; in place, nothing is swapped, the original keeps its rows, and
/// the loaded copy is dropped.
@Suite struct PostgresPostDataTests {
    @Test(arguments: [
        // A duplicate key: ADD PRIMARY KEY fails while the verification reads the same table.
        "INSERT INTO parent (id, name) VALUES (3, 'secret-dup-value')",
        // An orphan: ADD FOREIGN KEY fails after both tables' keys were built.
        "INSERT INTO child (id, parent_id, note) VALUES (1000, 999999, 'secret-orphan-value')",
    ])
    func aFailingConstraintFailsTheRestoreAndSwapsNothing(tamper: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("postdata")
        try pg.script(db, """
            CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL UNIQUE);
            INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 200) g;
            CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, note text);
            CREATE INDEX child_parent ON child (parent_id);
            INSERT INTO child SELECT g, 1 + g % 200, 'note ' || g FROM generate_series(1, 500) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let before = try pg.tableDigests(db)

        let restore = try Background(["restore", "latest", "--source", "fhir", "--yes", "--jobs", "2"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-before-verify"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "postgres-before-verify")
        let work = try pg.databases(startingWith: db + "_restoring_")
        try #require(work.count == 1, "no work database: \(work)")
        // Loaded, not yet indexed: the tampering row goes in, the post-data step then refuses it.
        try pg.script(work[0], tamper)
        restore.resume()
        let result = finishBackground(restore, what: "the restore")

        #expect(result.status == 1, "restore exited \(result.status): \(result.stderr)")
        #expect(!result.stderr.contains("secret-"), "a row value in the error: \(result.stderr)")
        #expect(!result.stderr.contains("=(3)") && !result.stderr.contains("999999"), "a key value in the error: \(result.stderr)")
        #expect(try pg.tableDigests(db) == before, "the original changed")
        #expect(try pg.databases(startingWith: db + "_restoring_").isEmpty, "the loaded copy was left behind")
        #expect(try pg.databases(startingWith: db + "_pre_restore_").isEmpty, "something was swapped")
    }
}
