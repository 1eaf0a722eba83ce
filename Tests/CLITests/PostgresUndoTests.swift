import EHRTestSupport
import Foundation
import Testing

/// A restore of two PostgreSQL sources whose second swap fails after the first one committed:
/// the first swap is undone by the same one-transaction rename the other way round, so neither
/// database changed; the restored copy of the first is kept (a client may have written to it),
/// and its record no longer names it, so no later restore drops it as a leftover.
@Suite struct PostgresUndoTests {
    @Test func aFailedSecondSwapUndoesTheFirst() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let first = try dbs.create("ua"), second = try dbs.create("ub")
        for db in [first, second] {
            try pg.script(db, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 20) g;")
        }
        let ws = try Workspace()
        try """
        archive: \(ws.archive)
        sources:
          - name: fa
            kind: postgres
            connection: "\(pg.connection(first))"
          - name: fb
            kind: postgres
            connection: "\(pg.connection(second))"
        """.write(toFile: ws.config, atomically: true, encoding: .utf8)
        _ = try ws.ok(["backup"])
        for db in [first, second] { try pg.script(db, "INSERT INTO notes VALUES (100, 'after the snapshot');") }
        let before = try [first, second].map { try pg.tableDigests($0) }

        let restore = try Background(["restore", "latest", "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-swap-committed"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "postgres-swap-committed")
        // One source is swapped; take the other's kept name (the stamp is shared).
        let kept = try #require(try pg.databases(startingWith: dbs.prefix + "_").first { $0.contains("_pre_restore_") })
        let swappedDB = kept.hasPrefix(first) ? first : second, otherDB = swappedDB == first ? second : first
        let stamp = String(kept.dropFirst((swappedDB + "_pre_restore_").count))
        try pg.value("postgres", "CREATE DATABASE \"\(otherDB)_pre_restore_\(stamp)\"")
        restore.resume()
        let r = finishBackground(restore, what: "the restore whose second swap fails")

        #expect(r.status != 0, "the restore succeeded although a swap could not be made: \(r.stdout)")
        #expect(r.stderr.contains("was undone") && r.stderr.contains("nothing was restored"), "\(r.stderr)")
        #expect(try [first, second].map { try pg.tableDigests($0) } == before, "a database changed")
        let restoredCopy = try pg.databases(startingWith: swappedDB + "_restoring_")
        #expect(restoredCopy.count == 1, "the restored copy of \(swappedDB) was not kept: \(restoredCopy)")
        #expect(r.stderr.contains(restoredCopy.first ?? "?"), "the error does not name the kept copy: \(r.stderr)")
        // No later restore drops it as a leftover: its record was rewritten before the undo.
        try pg.value("postgres", "DROP DATABASE \"\(otherDB)_pre_restore_\(stamp)\"")
        _ = try ws.ok(["restore", "latest", "--source", swappedDB == first ? "fa" : "fb", "--to-database", dbs.name("drill")])
        #expect(try pg.databases(startingWith: swappedDB + "_restoring_") == restoredCopy)
    }
}
