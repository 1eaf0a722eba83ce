import EHRTestSupport
import Foundation
import Testing

/// A bank that pgbench clients keep busy while `ehrdata backup` runs. Every transaction moves 1
/// from a checking row to a savings row, inserts a parent with k children (child_count = k),
/// and bumps `ticks`; so in every consistent copy the balances sum to the constant, each
/// parent's child_count equals its children, and ticks equals the number of parents.
enum Bank {
    static let rows = 100
    static let opening = 1000
    static var total: Int { 2 * rows * opening }

    static let schema = """
        CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL);
        CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL);
        INSERT INTO checking SELECT g, \(opening) FROM generate_series(1, \(rows)) g;
        INSERT INTO savings SELECT g, \(opening) FROM generate_series(1, \(rows)) g;
        CREATE TABLE parent (id bigserial PRIMARY KEY, child_count int NOT NULL);
        CREATE TABLE child (id bigserial PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent(id));
        CREATE TABLE ticks (n bigint NOT NULL);
        INSERT INTO ticks VALUES (0);
        """

    /// One pgbench transaction. Locks are taken in the same order by every client (checking,
    /// savings, parent/child, ticks), so clients wait for each other but never deadlock.
    static let transaction = """
        \\set a random(1, \(rows))
        \\set b random(1, \(rows))
        \\set k random(1, 5)
        BEGIN;
        UPDATE checking SET balance = balance - 1 WHERE id = :a;
        UPDATE savings SET balance = balance + 1 WHERE id = :b;
        WITH p AS (INSERT INTO parent (child_count) VALUES (:k) RETURNING id) INSERT INTO child (parent_id) SELECT p.id FROM p, generate_series(1, :k);
        UPDATE ticks SET n = n + 1;
        END;

        """

    static func create(_ pg: PGServer, _ database: String) throws {
        try pg.script(database, schema)
    }

    /// A new bank database named after `label`, and a workspace whose one source it is.
    static func workspace(_ pg: PGServer, _ dbs: PGDatabases, _ label: String) throws -> (db: String, ws: Workspace) {
        let db = try dbs.create(label)
        try create(pg, db)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        return (db, ws)
    }

    /// Two pgbench clients committing (`-T 300`); the test kills them when it is done, and
    /// never waits for the 300 s (pgbench's timer is SIGALRM, which the test runner's children
    /// inherit blocked).
    static func startClients(_ pg: PGServer, _ database: String, scriptDirectory: TempDirectory) throws -> BackgroundProgram {
        try scriptDirectory.write(transaction, to: "bank.pgbench")
        return try BackgroundProgram(PGServer.pgbench, [
            "-h", pg.host, "-p", pg.port, "-U", pg.user, "-n", "-c", "2", "-T", "300",
            "-f", scriptDirectory.file("bank.pgbench"), database,
        ])
    }

    static func ticks(_ pg: PGServer, _ database: String) throws -> Int {
        try #require(Int(try pg.value(database, "SELECT n FROM ticks")))
    }

    /// Asserts the invariants in a (restored) copy and returns its ticks.
    @discardableResult
    static func expectConsistent(_ pg: PGServer, _ database: String,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        #expect(try pg.value(database, "SELECT (SELECT sum(balance) FROM checking) + (SELECT sum(balance) FROM savings)") == "\(total)",
                "money was created or lost", sourceLocation: sourceLocation)
        #expect(try pg.value(database, "SELECT count(*) FROM checking") == "\(rows)", sourceLocation: sourceLocation)
        #expect(try pg.value(database, "SELECT count(*) FROM savings") == "\(rows)", sourceLocation: sourceLocation)
        #expect(try pg.value(database, """
            SELECT count(*) FROM parent p WHERE child_count <> (SELECT count(*) FROM child c WHERE c.parent_id = p.id)
            """) == "0", "a parent's child_count differs from its children", sourceLocation: sourceLocation)
        #expect(try pg.value(database, "SELECT count(*) FROM child c WHERE NOT EXISTS (SELECT 1 FROM parent p WHERE p.id = c.parent_id)") == "0",
                "a child without its parent", sourceLocation: sourceLocation)
        let ticks = try Self.ticks(pg, database)
        #expect(try pg.value(database, "SELECT count(*) FROM parent") == "\(ticks)",
                "ticks and parents come from different moments", sourceLocation: sourceLocation)
        // Sequences are read outside the snapshot; they may be ahead of it, never behind.
        for (sequence, table) in [("parent_id_seq", "parent"), ("child_id_seq", "child")] {
            let behind = try pg.value(database, "SELECT (SELECT last_value FROM \(sequence)) < (SELECT coalesce(max(id), 0) FROM \(table))")
            #expect(behind == "f", "\(sequence) is behind \(table)'s rows: new inserts would collide", sourceLocation: sourceLocation)
        }
        return ticks
    }
}

@Suite(.serialized) struct PostgresConsistencyTests {
    /// Deterministic overlap: the backup pauses right after exporting its snapshot and locking the
    /// tables (before any COPY), the clients commit meanwhile, then the two COPY workers run.
    /// Every table must still come from the one snapshot.
    @Test func snapshotIsConsistentWhileClientsCommit() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let (db, ws) = try Bank.workspace(pg, dbs, "bank")

        let clients = try Bank.startClients(pg, db, scriptDirectory: ws.dir)
        defer { clients.stop() }
        let ticksBefore = try Bank.ticks(pg, db)
        // A commit after this read guarantees the snapshot, taken later, is past ticksBefore.
        try #require(try eventually(alive: { clients.isRunning }, until: { try Bank.ticks(pg, db) > ticksBefore }),
                     "pgbench is not committing: \(clients.output)")

        let backup = try Background(["backup", "--jobs", "2"], config: ws.config,
                                    environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-after-snapshot"])
        defer { backup.killIfRunning() }
        try requirePaused(backup, at: "postgres-after-snapshot")
        // The snapshot is older than this read; wait for commits newer than it.
        let atPause = try Bank.ticks(pg, db)
        try #require(try eventually(alive: { clients.isRunning }, until: { try Bank.ticks(pg, db) >= atPause + 20 }),
                     "pgbench did not commit while the backup held its snapshot: \(clients.output)")
        backup.resume()
        let result = finishBackground(backup, what: "the backup")
        let ticksAfter = try Bank.ticks(pg, db)
        clients.stop()
        try #require(result.status == 0, "backup failed: \(result.stderr)")

        let target = dbs.name("restored")
        let restore = try ws.run(["restore", "latest", "--source", "fhir", "--to-database", target, "--jobs", "2"])
        try #require(restore.status == 0, "restore failed: \(restore.stderr)")
        let inSnapshot = try Bank.expectConsistent(pg, target)
        #expect(ticksBefore < inSnapshot, "the snapshot predates the backup (\(ticksBefore) ≥ \(inSnapshot))")
        #expect(inSnapshot < ticksAfter, "no commit happened during the backup (\(inSnapshot) ≥ \(ticksAfter))")
        #expect(inSnapshot <= atPause, "the snapshot is newer than the pause after it was taken")

        // The manifest's row counts come from the same snapshot as the data.
        let id = try #require(try ws.snapshotIDs().last)
        let m = try ws.postgresManifest(id)
        for table in ["checking", "savings", "parent", "child", "ticks"] {
            let entry = m.table(table)
            #expect(entry.flatMap(PostgresManifest.rows) == (try pg.value(target, "SELECT count(*) FROM \(table)")),
                    "manifest rows of \(table)")
        }
    }

    /// Without the pause hook: a big table makes the COPY phase long enough for the clients to
    /// commit during it. The invariants must hold whatever the timing.
    @Test func snapshotIsConsistentUnderLoadWithoutHooks() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("bankbig")
        try Bank.create(pg, db)
        try pg.script(db, """
            CREATE TABLE padding (id int PRIMARY KEY, body text NOT NULL);
            INSERT INTO padding SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 300000) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        let clients = try Bank.startClients(pg, db, scriptDirectory: ws.dir)
        defer { clients.stop() }
        let ticksBefore = try Bank.ticks(pg, db)
        try #require(try eventually(alive: { clients.isRunning }, until: { try Bank.ticks(pg, db) > ticksBefore }),
                     "pgbench is not committing: \(clients.output)")
        let backup = try ws.run(["backup", "--jobs", "2"])
        let ticksAfter = try Bank.ticks(pg, db)
        clients.stop()
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")

        let target = dbs.name("restored")
        _ = try ws.ok(["restore", "latest", "--source", "fhir", "--to-database", target])
        let inSnapshot = try Bank.expectConsistent(pg, target)
        #expect(ticksBefore < inSnapshot && inSnapshot <= ticksAfter)
        #expect(try pg.value(target, "SELECT count(*) FROM padding") == "300000")
    }

    /// Starts a backup paused at `point`, then a `TRUNCATE checking` that must be seen waiting for
    /// a lock behind it.
    static func truncateWhilePaused(_ pg: PGServer, _ db: String, _ ws: Workspace, at point: String,
                                    backup arguments: [String]) throws -> (Background, BackgroundProgram) {
        let backup = try Background(arguments, config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": point])
        do { try requirePaused(backup, at: point) } catch {
            backup.killIfRunning()
            throw error
        }
        let truncate = try BackgroundProgram(PGServer.psqlPath, PGServer.psqlArguments(pg.connection(db)) + ["-c", "TRUNCATE checking"])
        let waitingSQL = """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = \(literal(db)) AND wait_event_type = 'Lock' AND query LIKE 'TRUNCATE%'
            """
        #expect(try eventually(alive: { truncate.isRunning }, until: { try pg.value("postgres", waitingSQL) == "1" }),
                "the TRUNCATE was not seen waiting for a lock: \(truncate.output)")
        return (backup, truncate)
    }

    /// A TRUNCATE that queues behind the coordinator's lock before the workers have theirs would
    /// deadlock them (PostgreSQL cannot see the coordinator waiting for its workers). The workers'
    /// NOWAIT fails instead, the source restarts under a new snapshot after the TRUNCATE, and the
    /// snapshot is consistent with it: the table is empty in the copy and in the manifest.
    @Test func truncateQueuedBeforeTheWorkersLockRestartsTheSource() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let (db, ws) = try Bank.workspace(pg, dbs, "truncretry")

        let (backup, truncate) = try Self.truncateWhilePaused(pg, db, ws, at: "postgres-before-workers",
                                                              backup: ["backup", "--jobs", "2", "--log-level", "info"])
        defer { backup.killIfRunning() }
        backup.resume()
        let result = finishBackground(backup, what: "the backup (deadlocked behind the TRUNCATE?)")
        #expect(result.status == 0, "backup failed: \(result.stderr)")
        #expect(result.stderr.contains("retrying the whole source under a new snapshot"), "no retry logged: \(result.stderr)")
        #expect(truncate.waitForExit(), "the TRUNCATE never ran: \(truncate.output)")
        try #require(result.status == 0)

        let m = try ws.postgresManifest(try #require(try ws.snapshotIDs().last))
        #expect(m.table("checking").flatMap(PostgresManifest.rows) == "0")
        let target = dbs.name("restored")
        _ = try ws.ok(["restore", "latest", "--source", "fhir", "--to-database", target])
        #expect(try pg.value(target, "SELECT count(*) FROM checking") == "0")
        #expect(try pg.value(target, "SELECT count(*) FROM savings") == "\(Bank.rows)")
    }

    /// TRUNCATE needs ACCESS EXCLUSIVE: it waits behind the backup's ACCESS SHARE locks, the
    /// backup completes with every row, and the TRUNCATE runs afterwards.
    @Test func concurrentTruncateWaitsForTheBackup() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let (db, ws) = try Bank.workspace(pg, dbs, "truncate")

        let (backup, truncate) = try Self.truncateWhilePaused(pg, db, ws, at: "postgres-after-snapshot", backup: ["backup"])
        defer { backup.killIfRunning() }
        #expect(truncate.isRunning, "the TRUNCATE finished while the backup held its snapshot: \(truncate.output)")
        #expect(try pg.value(db, """
            SELECT count(*) FROM pg_locks
            WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND relation = 'checking'::regclass AND mode = 'AccessShareLock' AND granted AND pid <> pg_backend_pid()
            """) != "0", "the backup holds no ACCESS SHARE lock on checking while paused")

        backup.resume()
        let result = finishBackground(backup, what: "the backup (deadlocked behind the TRUNCATE it blocks?)")
        #expect(result.status == 0, "backup failed: \(result.stderr)")
        #expect(truncate.waitForExit(), "the TRUNCATE never ran after the backup: \(truncate.output)")
        #expect(truncate.process.terminationStatus == 0, "TRUNCATE failed: \(truncate.output)")
        #expect(try pg.value(db, "SELECT count(*) FROM checking") == "0")
        try #require(result.status == 0)

        let target = dbs.name("restored")
        _ = try ws.ok(["restore", "latest", "--source", "fhir", "--to-database", target])
        #expect(try pg.value(target, "SELECT count(*) FROM checking") == "\(Bank.rows)")
        try Bank.expectConsistent(pg, target)
        let m = try ws.postgresManifest(try #require(try ws.snapshotIDs().last))
        #expect(m.table("checking").flatMap(PostgresManifest.rows) == "\(Bank.rows)")
    }
}
