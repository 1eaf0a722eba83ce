import EHRTestSupport
import Foundation
import Testing

/// `check --against SNAPSHOT`: the live sources against a snapshot, per table.
@Suite struct CheckAgainstTests {
    @Test func unchangedSourcesPassAndEveryChangedTableIsReported() throws {
        let f = try CheckFixture()
        try f.writeConfig(rules: f.defaultRules, extra: "drill:\n  scratch_dir: \(f.scratch.path)")
        #expect(try f.run(["backup"]).status == 0)

        let same = try f.run(["check", "--against", "latest", "--json"])
        #expect(same.status == 0, "\(same.stderr)")
        let before = try CheckFixture.results(same).byName
        #expect(Set(before.keys) == ["drift:clinic", "drift:appointment", "drift:visit", "drift:patient", "drift:encounter", "drift:observation"])
        #expect(before.values.allSatisfy { $0["status"] as? String == "pass" && $0["kind"] as? String == "drift" })
        #expect(try f.scratchFiles().isEmpty)

        // Two rows gone in SQLite, one value changed in PostgreSQL, a table new there.
        #expect(try Run.sqlite3(f.workspace.source, "DELETE FROM appointment WHERE fhir_patient_id IN ('M1', 'M3');\n").status == 0)
        try f.server.script(f.fhir, """
            UPDATE observation SET value = 99 WHERE id = 2;
            CREATE TABLE consent (id int); INSERT INTO consent VALUES (1), (2), (3);
            """)
        let changed = try f.run(["check", "--against", "latest", "--json"])
        #expect(changed.status == 81, "\(changed.stderr)")
        let after = try CheckFixture.results(changed).byName
        let failing = after.filter { $0.value["status"] as? String != "pass" }.mapValues { ($0["violations"] as? NSNumber)?.intValue ?? -1 }
        #expect(failing == ["drift:appointment": 2, "drift:observation": 1, "drift:consent": 3], "\(after)")
        #expect(after["drift:appointment"]?["source"] as? String == "backend" && after["drift:consent"]?["source"] as? String == f.fhirSource)
        #expect(try f.scratchFiles().isEmpty)
        // Only one source.
        let one = try f.run(["check", "--against", "latest", "--source", "backend", "--json"])
        #expect(try Set(CheckFixture.results(one).byName.keys) == ["drift:clinic", "drift:appointment", "drift:visit"])
    }
}
