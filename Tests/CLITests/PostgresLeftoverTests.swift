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
}
