import EHRTestSupport
import Foundation
import Testing

/// The in-place swap of a PostgreSQL database is one transaction on the server (end the
/// original's sessions, rename the original to `<db>_pre_restore_<stamp>`, rename the restored
/// copy to `<db>`), so ehrdata killed with `kill -9` at any moment leaves the name serving either
/// the old or the new database, whole, and never a database closed to connections.
@Suite struct PostgresSwapKillTests {
    /// A database with two tables, backed up; then both changed and a third table added.
    struct Fixture {
        let pg: PGServer
        let dbs: PGDatabases
        let db: String
        let ws: Workspace
        /// Every table's digest at the backup (what the restore brings back).
        let new: [String: String]
        /// Every table's digest just before the restore (what it replaces).
        let old: [String: String]
    }

    static func fixture(_ pg: PGServer, _ dbs: PGDatabases) throws -> Fixture {
        let db = try dbs.create("swap")
        try pg.script(db, """
            CREATE TABLE notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);
            CREATE TABLE patients (id int PRIMARY KEY, name text NOT NULL);
            INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 10) g;
            INSERT INTO patients SELECT g, 'patient ' || g FROM generate_series(1, 20) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let new = try pg.tableDigests(db)
        try pg.script(db, """
            INSERT INTO notes (body) SELECT 'after the snapshot' FROM generate_series(1, 5);
            UPDATE patients SET name = name || ' (renamed)' WHERE id % 2 = 0;
            CREATE TABLE later (id int PRIMARY KEY);
            INSERT INTO later VALUES (1), (2);
            """)
        let old = try pg.tableDigests(db)
        try #require(old != new && old.count == 3 && new.count == 2)
        return Fixture(pg: pg, dbs: dbs, db: db, ws: ws, new: new, old: old)
    }

    /// The swap's checkpoints (TestHooks), in order; only the last is after COMMIT.
    static let points = ["postgres-swap-begin", "postgres-swap-terminate", "postgres-swap-rename-original",
                         "postgres-swap-rename-restored", "postgres-swap-commit", "postgres-swap-committed"]

    /// Killed with `kill -9` at each point of the swap, then the next command runs: the name
    /// accepts a new connection and holds the old database (killed before COMMIT) or the restored
    /// one (after), every table of it; no database is closed to connections; after COMMIT the
    /// replaced database is kept with its content.
    @Test(arguments: points)
    func killedDuringTheSwap(at point: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let f = try Self.fixture(pg, dbs)

        let restore = try Background(["restore", "latest", "--source", "fhir", "--yes"], config: f.ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": point])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: point)
        restore.kill9()

        // The next command a person runs.
        let list = try f.ws.run(["list"])
        #expect(list.status == 0, "ehrdata list after the kill failed: \(list.stderr)")
        // The server rolls back the killed client's transaction when it sees the connection
        // close; until then it holds its locks on the databases. Wait (bounded) for that.
        let released = try eventually(iterations: 1500) { try Self.swapLocksHeld(pg, dbs) == 0 }
        #expect(released, "the killed restore's transaction still holds locks on the databases")

        // The name accepts a new connection (connect_timeout bounds a wait on a lock).
        let open = try pg.psql(f.db, "SELECT 'open'", environment: ["PGCONNECT_TIMEOUT": "30"])
        #expect(open.status == 0 && open.stdout.contains("open"),
                "\(f.db) refuses new connections after a kill at \(point): \(open.stderr)")
        let closed = try Self.closedToConnections(pg, dbs)
        #expect(closed.isEmpty, "databases left with datallowconn = false after a kill at \(point): \(closed)")

        let committed = point == "postgres-swap-committed"
        let kept = try pg.databases(startingWith: f.db + "_pre_restore_")
        let work = try pg.databases(startingWith: f.db + "_restoring_")
        if open.status == 0 {
            let live = try pg.tableDigests(f.db)
            #expect(live == f.old || live == f.new, "\(f.db) holds a mix of old and restored tables after a kill at \(point)")
            #expect(live == (committed ? f.new : f.old),
                    "after a kill at \(point) \(f.db) should hold the \(committed ? "restored" : "old") content")
        }
        if committed {
            try #require(kept.count == 1, "expected one kept database after COMMIT, found \(kept)")
            #expect(try pg.tableDigests(kept[0]) == f.old, "the kept database does not hold the replaced content")
            #expect(work.isEmpty, "the restored copy is still under its work name after COMMIT: \(work)")
        } else {
            #expect(kept.isEmpty, "a _pre_restore_ database exists although the swap never committed: \(kept)")
            // What a killed restore leaves (docs/RUNBOOK.md): the verified copy under its work name.
            #expect(work.count == 1, "expected the restored copy under its work name, found \(work)")
        }
    }

    /// A session on the original is ended by the swap, and the restore succeeds.
    @Test func theSwapEndsSessionsOnTheOriginal() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let f = try Self.fixture(pg, dbs)
        let session = try BackgroundProgram(PGServer.psqlPath, PGServer.psqlArguments(pg.connection(f.db))
                                                + ["-c", "SELECT pg_sleep(600)"])
        defer { session.stop() }
        try #require(eventually { try Self.sessions(pg, on: f.db, running: "pg_sleep(600)") == 1 },
                     "the session on \(f.db) did not start: \(session.output)")

        let r = try f.ws.run(["restore", "latest", "--source", "fhir", "--yes"])
        try #require(r.status == 0, "in-place restore with a session on the original failed: \(r.stderr)")
        #expect(session.waitForExit(), "the session on the original was not ended by the swap")
        #expect(session.output.contains("terminating connection due to administrator command"),
                "the session ended some other way: \(session.output)")
        #expect(try pg.tableDigests(f.db) == f.new)
        let kept = try pg.databases(startingWith: f.db + "_pre_restore_")
        try #require(kept.count == 1, "expected one kept database, found \(kept)")
        #expect(try pg.tableDigests(kept[0]) == f.old)
        #expect(try Self.closedToConnections(pg, dbs).isEmpty)
    }

    /// Clients that reconnect at once, in a loop, while the swap runs: the swap finishes (the name
    /// holds the restored data, the replaced one is kept) or fails with exit 75 and the original
    /// untouched, open, and nothing else left behind.
    @Test func clientsReconnectingDuringTheSwap() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let f = try Self.fixture(pg, dbs)
        let psql = ([PGServer.psqlPath] + PGServer.psqlArguments(pg.connection(f.db))).map(Self.shellQuoted).joined(separator: " ")
        // One loop as fast as it can, one holding each session for a moment.
        let fast = try BackgroundProgram("/bin/bash", ["-c", "while :; do \(psql) -c 'SELECT 1' >/dev/null 2>&1; done"])
        let slow = try BackgroundProgram("/bin/bash", ["-c", "while :; do \(psql) -c 'SELECT pg_sleep(0.3)' >/dev/null 2>&1; done"])
        defer {
            fast.stop()
            slow.stop()
        }
        try #require(eventually { try Self.sessions(pg, on: f.db, running: "pg_sleep(0.3)") >= 1 },
                     "the reconnecting clients did not connect to \(f.db)")

        let r = try f.ws.run(["restore", "latest", "--source", "fhir", "--yes"])
        fast.stop()
        slow.stop()
        let kept = try pg.databases(startingWith: f.db + "_pre_restore_")
        #expect(try Self.closedToConnections(pg, dbs).isEmpty)
        #expect(try pg.value(f.db, "SELECT 'open'") == "open", "\(f.db) does not accept connections")
        switch r.status {
        case 0:
            #expect(try pg.tableDigests(f.db) == f.new)
            try #require(kept.count == 1, "expected one kept database, found \(kept)")
            #expect(try pg.tableDigests(kept[0]) == f.old)
        case 75:
            expectFailure(r, code: 75, mentions: [f.db, "nothing was swapped"])
            #expect(try pg.tableDigests(f.db) == f.old, "the original changed although the swap failed")
            #expect(kept.isEmpty)
            #expect(try pg.databases(startingWith: f.db + "_restoring_").isEmpty, "the restored copy was not dropped")
        default:
            Issue.record("in-place restore with reconnecting clients exited \(r.status): \(r.stderr)")
        }
    }

    /// An in-place restore paused before its swap, with a session sleeping on the restored copy
    /// (which the swap does not end), so that the rename finds it "being accessed by other users".
    static func pausedBeforeTheSwapWithASessionOnTheCopy(_ pg: PGServer, _ f: Fixture) throws -> (Background, BackgroundProgram, String) {
        let restore = try Background(["restore", "latest", "--source", "fhir", "--yes"], config: f.ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-swap-begin"])
        do {
            try requirePaused(restore, at: "postgres-swap-begin")
            let work = try #require(try pg.databases(startingWith: f.db + "_restoring_").first, "no work database while paused")
            let session = try BackgroundProgram(PGServer.psqlPath, PGServer.psqlArguments(pg.connection(work))
                                                    + ["-c", "SELECT pg_sleep(600)"])
            guard try eventually(until: { try sessions(pg, on: work, running: "pg_sleep(600)") == 1 }) else {
                session.stop()
                Issue.record("the session on \(work) did not start: \(session.output)")
                throw PausedError()
            }
            return (restore, session, work)
        } catch {
            restore.killIfRunning()
            throw error
        }
    }

    /// A session on the restored copy (which the swap does not end) makes the rename fail with
    /// "being accessed by other users"; the swap tries again, whole, and finishes once it is gone.
    @Test func theSwapIsRetriedWhileARenameFindsSessions() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let f = try Self.fixture(pg, dbs)
        let (restore, session, work) = try Self.pausedBeforeTheSwapWithASessionOnTheCopy(pg, f)
        defer { restore.killIfRunning() }
        defer { session.stop() }

        restore.resume()
        // The swap's transaction holds the original's lock while its second rename waits; a
        // second transaction holding it means the first was rolled back and the swap tried again.
        var first: String?
        let retried = eventually(iterations: 3000, alive: { restore.process.isRunning }) {
            guard let xact = try? Self.swapLockTransaction(pg, f.db) else { return false }
            if first == nil { first = xact }
            return xact != first
        }
        #expect(retried, "no second swap transaction was seen")
        // Killing psql does not end a backend asleep in pg_sleep; end it on the server.
        try pg.value("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = \(literal(work))")
        session.stop()
        let r = finishBackground(restore, within: 15_000, what: "the restore once the session was gone")
        #expect(r.status == 0, "the swap did not finish after the session went away: \(r.stderr)")
        #expect(try pg.tableDigests(f.db) == f.new)
        let kept = try pg.databases(startingWith: f.db + "_pre_restore_")
        try #require(kept.count == 1, "expected one kept database, found \(kept)")
        #expect(try pg.tableDigests(kept[0]) == f.old)
        #expect(try Self.closedToConnections(pg, dbs).isEmpty)
    }

    /// When every try finds sessions still there, the restore gives up with exit 75 and one line
    /// with a hint; the original is untouched and open, and the restored copy is dropped. (Each
    /// try waits up to 5 s in the server for the sessions to go, so this test takes about 100 s.)
    @Test func theSwapGivesUpCleanlyWhenSessionsStay() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let f = try Self.fixture(pg, dbs)
        let (restore, session, _) = try Self.pausedBeforeTheSwapWithASessionOnTheCopy(pg, f)
        defer { restore.killIfRunning() }
        defer { session.stop() }

        restore.resume()
        let r = finishBackground(restore, within: 15_000, what: "the restore whose swap never finds the databases free")
        expectFailure(r, code: 75, mentions: [f.db, "nothing was swapped", "is being accessed by other users"])
        #expect(!r.stderr.contains("after the snapshot") && !r.stderr.contains("patient "), "row values in: \(r.stderr)")
        #expect(try pg.value(f.db, "SELECT 'open'") == "open")
        #expect(try pg.tableDigests(f.db) == f.old, "the original changed although the swap failed")
        #expect(try Self.closedToConnections(pg, dbs).isEmpty)
        #expect(try pg.databases(startingWith: f.db + "_pre_restore_").isEmpty)
        #expect(try pg.databases(startingWith: f.db + "_restoring_").isEmpty, "the restored copy was not dropped")
    }

    // MARK: Helpers

    /// The test's databases with datallowconn = false.
    static func closedToConnections(_ pg: PGServer, _ dbs: PGDatabases) throws -> [String] {
        try pg.rows("postgres", "SELECT datname FROM pg_database WHERE NOT datallowconn AND starts_with(datname, \(literal(dbs.prefix))) ORDER BY 1")
            .map { $0[0] }
    }

    /// AccessExclusiveLocks held or wanted on the test's databases (a rename's).
    static func swapLocksHeld(_ pg: PGServer, _ dbs: PGDatabases) throws -> Int {
        Int(try pg.value("postgres", """
            SELECT count(*) FROM pg_locks l JOIN pg_database d ON l.classid = 'pg_database'::regclass AND l.objid = d.oid
            WHERE l.locktype = 'object' AND l.mode = 'AccessExclusiveLock' AND starts_with(d.datname, \(literal(dbs.prefix)))
            """)) ?? -1
    }

    /// The transaction (pid and start) holding the rename's lock on `database`, if any.
    static func swapLockTransaction(_ pg: PGServer, _ database: String) throws -> String? {
        let rows = try pg.rows("postgres", """
            SELECT a.pid || ' ' || a.xact_start FROM pg_locks l JOIN pg_database d ON l.classid = 'pg_database'::regclass AND l.objid = d.oid
            JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'object' AND l.mode = 'AccessExclusiveLock' AND l.granted AND d.datname = \(literal(database))
            """)
        return rows.first?.first
    }

    static func sessions(_ pg: PGServer, on database: String, running query: String) throws -> Int {
        Int(try pg.value("postgres", """
            SELECT count(*) FROM pg_stat_activity WHERE datname = \(literal(database)) AND strpos(query, \(literal(query))) > 0
            """)) ?? -1
    }

    static func shellQuoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
