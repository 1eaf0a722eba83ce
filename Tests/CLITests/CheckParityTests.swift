import EHRTestSupport
import Foundation
import Testing

/// `check --parity`: migrate's proof on demand, after a real migrate and after the migrated
/// tables were changed behind its back.
@Suite struct CheckParityTests {
    @Test func parityPassesAfterMigrateAndFindsTablesChangedSince() throws {
        let f = try CheckFixture()
        let r0 = try Run.sqlite3(f.workspace.source, """
            CREATE TABLE document (id INTEGER PRIMARY KEY, taken DATE, body BLOB, score REAL, flag BOOLEAN);
            INSERT INTO document (taken, body, score, flag) VALUES
              ('2024-01-31', x'00ff10', 1.5, 1), ('2023-12-01', NULL, -2.25, 0), (NULL, x'', NULL, NULL);
            """)
        #expect(r0.status == 0, "\(r0.stderr)")
        // widen: the fixture plants orphans, which migrate's foreign keys refuse under stop (they are added NOT VALID).
        let migrate = try f.run(["migrate", "--from", "backend", "--to", f.server.connection(f.fhir), "--schema", "backend",
                                 "--on-mismatch", "widen"])
        #expect(migrate.status == 0, "\(migrate.stderr)")

        let r = try f.run(["check", "--parity", "backend", f.fhirSource, "--schema", "backend", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let (_, byName) = try CheckFixture.results(r)
        #expect(Set(byName.keys) == ["parity:appointment", "parity:clinic", "parity:document", "parity:visit"])
        #expect(byName.values.allSatisfy { $0["status"] as? String == "pass" && $0["kind"] as? String == "parity" && $0["source"] as? String == "backend" })

        // One value changed, one row gone: each table reported, nothing else.
        try f.server.script(f.fhir, """
            UPDATE backend.document SET taken = '2024-02-01' WHERE id = 1;
            DELETE FROM backend.visit WHERE id IN (3, 4);
            """)
        let changed = try f.run(["check", "--parity", "backend", f.fhirSource, "--schema", "backend", "--json"])
        #expect(changed.status == 81, "\(changed.stderr)")
        let after = try CheckFixture.results(changed).byName
        #expect((after["parity:document"]?["violations"] as? NSNumber)?.intValue == 1)
        #expect((after["parity:visit"]?["violations"] as? NSNumber)?.intValue == 2)
        #expect(after["parity:appointment"]?["status"] as? String == "pass" && after["parity:clinic"]?["status"] as? String == "pass")
        // Never a value in the output.
        #expect(!changed.stdout.contains("2024") && !changed.stderr.contains("2024"))

        expectFailure(try f.run(["check", "--parity", "backend"]), code: 64, mentions: ["--parity takes two values"])
    }
}
