import EHRTestSupport
import Foundation
import Testing

/// A backup never lets damage through silently: a PostgreSQL table dropped, or emptied beyond
/// the configured share, is published and flagged (exit 84); `show` says what a snapshot holds.
@Suite struct IncidentBackupTests {
    @Test func aDroppedOrShrunkTableIsFlaggedAndShown() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("fhir")
        try pg.script(db, """
            CREATE TABLE patients (id int PRIMARY KEY, name text);
            INSERT INTO patients SELECT g, 'p' || g FROM generate_series(1, 100) g;
            CREATE TABLE visits (id serial PRIMARY KEY, note text);
            INSERT INTO visits (note) SELECT 'v' || g FROM generate_series(1, 40) g;
            CREATE TABLE audit (id int);
            INSERT INTO audit SELECT g FROM generate_series(1, 50) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db))
        _ = try ws.ok(["backup"])
        let first = try #require(try ws.snapshotIDs().first)

        // The incident: one table dropped, one mostly deleted, one a little.
        try pg.script(db, "DROP TABLE visits; DELETE FROM patients WHERE id > 30; DELETE FROM audit WHERE id > 45;")
        let r = try ws.run(["backup"])
        expectFailure(r, code: 84, mentions: ["published", "fhir", "damaged"])
        let second = try #require(try ws.snapshotIDs().last)
        #expect(second != first)
        let source = try ws.postgresManifest(second).source
        let check = try #require(source["sourceCheck"] as? [String: Any])
        #expect(check["method"] as? String == "previous-snapshot" && check["against"] as? String == first)
        let problems = (check["problems"] as? [String] ?? []).joined(separator: "\n")
        #expect(problems.contains("public.visits is gone"), "\(problems)")
        #expect(problems.contains("public.patients has 30 rows, 100"), "\(problems)")
        #expect(!problems.contains("audit"), "a 10% drop is under the 50% default: \(problems)")
        #expect(try ws.ok(["list"]).contains("fhir (source damaged)"))

        // show, text and JSON, with both kinds of source.
        let text = try ws.ok(["show", second])
        for expected in ["source backend (sqlite)", "source fhir (postgres)", "SOURCE DAMAGED (previous-snapshot against \(first))",
                         "public.patients  30 rows", "patients", "source check: ok (integrity_check)", "verified: never"] {
            #expect(text.contains(expected), "show lacks '\(expected)':\n\(text)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(try ws.ok(["show", first, "--json"]).utf8)) as! [String: Any]
        let sources = try #require(json["sources"] as? [[String: Any]])
        #expect(sources.map { $0["name"] as? String } == ["backend", "fhir"])
        let fhir = sources[1]
        #expect((fhir["tables"] as? [[String: Any]])?.contains { $0["name"] as? String == "public.visits" && $0["rows"] as? Int == 40 } == true)
        #expect((fhir["sequences"] as? [[String: Any]])?.contains { ($0["name"] as? String)?.contains("visits_id_seq") == true } == true)
        #expect(fhir["sourceCheck"] == nil, "the first snapshot had nothing to compare with")
        #expect((sources[0]["tables"] as? [[String: Any]])?.isEmpty == false)

        // A threshold of 5% flags the small drop too.
        try (try String(contentsOfFile: ws.config, encoding: .utf8) + "    row_drop_warning: 5\n").write(toFile: ws.config, atomically: true, encoding: .utf8)
        try pg.script(db, "DELETE FROM audit WHERE id > 40;")
        let third = try ws.run(["backup", "--json"])
        #expect(third.status == 84)
        // Compared with the last snapshot that was not flagged (the first): 50 -> 40 rows.
        #expect(third.stdout.contains("public.audit has 40 rows, 50 in snapshot \(first)"), "\(third.stdout)")
    }

    /// The next night is compared with the last snapshot that was not flagged, not with the
    /// flagged one: the flag stays until the table is back.
    @Test func theFlagLastsUntilTheTableIsBack() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("nights")
        try pg.script(db, "CREATE TABLE visits (id int PRIMARY KEY); INSERT INTO visits SELECT generate_series(1, 50);")
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        _ = try ws.ok(["backup"])
        let good = try #require(try ws.snapshotIDs().first)
        try pg.script(db, "DROP TABLE visits;")
        #expect(try ws.run(["backup"]).status == 84)
        let secondNight = try ws.run(["backup", "--json"])
        #expect(secondNight.status == 84, "the second night after the drop passed: \(secondNight.stdout)")
        #expect(secondNight.stdout.contains("public.visits is gone (it was in snapshot \(good)"), "\(secondNight.stdout)")
        try pg.script(db, "CREATE TABLE visits (id int PRIMARY KEY); INSERT INTO visits SELECT generate_series(1, 50);")
        #expect(try ws.run(["backup"]).status == 0)
    }

    /// A rollback-journal database whose counted table is damaged: published and flagged (84),
    /// not a failed backup.
    @Test func aDamagedRollbackJournalSourceIsPublishedAndFlagged() throws {
        let seed = TempDirectory()
        let db = seed.file("journal.sqlite")
        #expect(try Run.sqlite3(db, """
            PRAGMA page_size = 1024; PRAGMA journal_mode = DELETE;
            CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
            INSERT INTO t(v) SELECT printf('value %d', i) FROM c;
            """).status == 0)
        // Random bytes over a page of the table itself: count(*) meets the damage.
        let garbage = (0..<1024).map { _ in UInt8.random(in: 0 ... 255) }
        let handle = try #require(FileHandle(forWritingAtPath: db))
        try handle.seek(toOffset: 1024 * 5)
        handle.write(Data(garbage))
        try handle.close()
        let ws = try Workspace(database: db)
        let r = try ws.run(["backup"])
        expectFailure(r, code: 84, mentions: ["published", "backend", "damaged"])
        #expect(try ws.snapshotIDs().count == 1)
        let shown = try ws.ok(["show", "latest"])
        #expect(shown.contains("SOURCE DAMAGED (integrity_check)"), "\(shown)")
        #expect(shown.contains("t  rows unknown (damaged)"), "the damaged table is not listed: \(shown)")
    }
}

