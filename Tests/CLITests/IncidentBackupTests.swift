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
                         "public.patients  30 rows", "patients", "source check: ok (quick_check)", "verified: never"] {
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
        #expect(third.stdout.contains("public.audit has 40 rows, 45"), "\(third.stdout)")
    }
}
