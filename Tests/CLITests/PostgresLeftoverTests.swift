import EHRTestSupport
import Foundation
import Testing

/// A PostgreSQL restore killed -9 leaves its work database; its intent record marks it as
/// ehrdata's own, and the next restore of that source drops it (docs/ARCHIVE-FORMAT.md, "Intent
/// records").
@Suite struct PostgresLeftoverTests {
    @Test(arguments: ["in place", "new database"])
    func theNextRestoreOfTheSourceDropsAKilledRestoresDatabase(_ mode: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try PostgresRestoreInPlaceTests.backedUpThenChanged(pg, dbs)
        let target = dbs.name("copy")
        let arguments = mode == "in place" ? ["restore", "latest", "--source", "fhir", "--yes"]
                                           : ["restore", "latest", "--source", "fhir", "--to-database", target]
        let restore = try Background(arguments, config: c.ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-before-verify"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "postgres-before-verify")
        restore.kill9()
        let leftover = mode == "in place" ? try pg.databases(startingWith: c.db + "_restoring_") : [target]
        #expect(leftover.count == 1)
        #expect(try pg.exists(database: leftover[0]), "the killed restore left no database to clean up")

        // A command that does not know the server leaves it (and its record) for the restore.
        _ = try c.ws.ok(["list"])
        #expect(try pg.exists(database: leftover[0]))

        let next = try c.ws.run(["restore", "latest", "--source", "fhir", "--to-database", dbs.name("second")])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("dropped the work database"), "\(next.stderr)")
        #expect(try !pg.exists(database: leftover[0]), "\(leftover[0]) is still there")
        #expect(try pg.tableDigests(c.db) == c.changed, "the live database changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: c.ws.archive + "/intents").isEmpty)
    }

    @Test func anExistingEmptyTargetIsNeverDroppedAsALeftover() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try PostgresRestoreInPlaceTests.backedUpThenChanged(pg, dbs)
        let target = try dbs.create("emptytarget")
        let restore = try Background(["restore", "latest", "--source", "fhir", "--to-database", target], config: c.ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-before-verify"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "postgres-before-verify")
        restore.kill9()
        _ = try c.ws.run(["restore", "latest", "--source", "fhir", "--to-database", dbs.name("second")])
        #expect(try pg.exists(database: target), "a database the user made was dropped")
    }

    /// A record is archive content: one naming the live database drops nothing.
    @Test func aHostileRecordNamingTheLiveDatabaseDropsNothing() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let c = try PostgresRestoreInPlaceTests.backedUpThenChanged(pg, dbs)
        let id = try #require(try c.ws.snapshotIDs().first)
        try FileManager.default.createDirectory(atPath: c.ws.archive + "/intents", withIntermediateDirectories: true)
        try """
        {"format": "ehrdata-intent", "version": 1, "kind": "postgres", "phase": "prepare", "createdAt": "2026-12-01T00:00:00.000Z",
         "host": "elsewhere", "pid": 999999, "snapshot": "\(id)", "source": "fhir",
         "postgres": {"workDatabase": "\(c.db)", "mark": "ehrdata restore in progress 0"}}
        """.write(toFile: c.ws.archive + "/intents/20261201T000000-999999-0001.json", atomically: true, encoding: .utf8)
        let next = try c.ws.run(["restore", "latest", "--source", "fhir", "--to-database", dbs.name("drill")])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("left a database alone"), "\(next.stderr)")
        #expect(try pg.exists(database: c.db), "the live database was dropped")
        #expect(try pg.tableDigests(c.db) == c.changed)
    }
}
