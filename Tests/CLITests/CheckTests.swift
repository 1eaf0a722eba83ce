import EHRTestSupport
import Foundation
import Testing

/// `ehrdata check` end to end: the real binary against a real SQLite file and a real
/// PostgreSQL server, with the two-service fixture of CheckFixture.
@Suite struct CheckTests {
    @Test func everyPlantedInconsistencyIsReportedWithItsCountAndTheRepairedFixturePasses() throws {
        let f = try CheckFixture()
        let r = try f.run(["check", "--json"])
        #expect(r.status == 81, "\(r.stderr)")
        try f.expectResults(r, failing: CheckFixture.planted, amcheck: "skipped")
        let (report, byName) = try CheckFixture.results(r)
        #expect((byName["rule:appointment-patients-exist"]?["nullKeys"] as? NSNumber)?.intValue == 2)
        #expect((report["peakMemoryBytes"] as? NSNumber)?.int64Value ?? 0 > 0)
        #expect(report["stored"] as? Bool == true)
        // Stored in the archive, in the envelope docs/ARCHIVE-FORMAT.md describes.
        let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.workspace.archive + "/results/check.json"))) as? [String: Any]
        #expect(stored?["format"] as? String == "ehrdata-result" && stored?["command"] as? String == "check")
        #expect(((stored?["result"] as? [String: Any])?["results"] as? [Any])?.count == 7)
        // Identifiers only: no clinical value, and the keys themselves only with --show-keys.
        #expect(!r.stdout.contains("M1") && !r.stderr.contains("M1"))

        try f.repair()
        let repaired = try f.run(["check", "--json"])
        #expect(repaired.status == 0, "\(repaired.stderr)")
        try f.expectResults(repaired, failing: [:], amcheck: "skipped")
    }

    @Test func textTableShowKeysAndSelection() throws {
        let f = try CheckFixture()
        let text = try f.run(["check", "--show-keys"])
        #expect(text.status == 81)
        #expect(text.stdout.contains("CHECK") && text.stdout.contains("VIOLATIONS"))
        #expect(text.stdout.contains("first missing keys: M1, M2, M3, M4"))
        expectFailure(text, code: 81, mentions: ["foreign_key", "rule:appointment-patients-exist"])

        // --source: only that source's built-in checks (no rule spans only it).
        let one = try f.run(["check", "--source", "backend", "--quick", "--json"])
        #expect(one.status == 81)
        let (_, byName) = try CheckFixture.results(one)
        #expect(Set(byName.keys) == ["integrity (quick_check)", "foreign_key"])
        // --rule: only that rule.
        let rule = try f.run(["check", "--rule", "visits-match-encounters", "--json"])
        #expect(try Set(CheckFixture.results(rule).byName.keys) == ["rule:visits-match-encounters"])
        expectFailure(try f.run(["check", "--rule", "nope"]), code: 66, mentions: ["rule 'nope'"])
    }

    @Test func aDamagedPageIsReportedByTheIntegrityCheck() throws {
        let f = try CheckFixture()
        let r0 = try Run.sqlite3(f.workspace.source, """
            PRAGMA page_size = 4096; VACUUM;
            CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT);
            INSERT INTO note (body) SELECT printf('%.200c', 'x') FROM generate_series(1, 400);
            """)
        #expect(r0.status == 0, "\(r0.stderr)")
        // Overwrite a whole page in the middle of the file (a full leaf of note's table).
        let handle = try #require(FileHandle(forUpdatingAtPath: f.workspace.source))
        let pages = try handle.seekToEnd() / 4096
        try handle.seek(toOffset: (pages / 2) * 4096)
        handle.write(Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let r = try f.run(["check", "--source", "backend", "--json"])
        #expect(r.status == 81, "\(r.stderr)")
        let integrity = try #require(try CheckFixture.results(r).byName["integrity"])
        #expect(integrity["status"] as? String == "fail")
        #expect((integrity["violations"] as? NSNumber)?.intValue ?? 0 >= 1)
    }

    @Test func badRulesGiveAClearErrorAndTheirExitCode() throws {
        let f = try CheckFixture()
        let before = try f.server.value(f.fhir, "SELECT count(*) FROM patient")
        try f.writeConfig(rules: """
            rules:
              - name: failing-query
                kind: keys
                each:      { source: backend, query: "SELECT no_such_column FROM appointment" }
                exists_in: { source: \(f.fhirSource), query: "SELECT id FROM patient" }
              - name: sqlite-writes
                kind: count
                left:  { source: backend, query: "DELETE FROM appointment RETURNING id" }
                right: { source: \(f.fhirSource), query: "SELECT 1" }
              - name: postgres-writes
                kind: keys
                each:      { source: backend, query: "SELECT fhir_patient_id FROM appointment" }
                exists_in: { source: \(f.fhirSource), query: "DELETE FROM patient RETURNING id" }
              - name: too-slow
                kind: count
                left:  { source: backend, query: "SELECT 1" }
                right: { source: \(f.fhirSource), query: "SELECT count(*) FROM pg_sleep(3)" }
              - name: sqlite-too-slow
                kind: count
                left:  { source: backend, query: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000) SELECT count(*) FROM c" }
                right: { source: \(f.fhirSource), query: "SELECT 1" }
            check:
              statement_timeout: 1s
            """)
        let r = try f.run(["check", "--rule", "failing-query", "--rule", "sqlite-writes", "--rule", "postgres-writes", "--rule", "too-slow", "--rule", "sqlite-too-slow", "--json"])
        #expect(r.status == 82, "\(r.stderr)")
        let (_, byName) = try CheckFixture.results(r)
        func detail(_ name: String) -> String { byName["rule:" + name]?["detail"] as? String ?? "" }
        for name in ["failing-query", "sqlite-writes", "postgres-writes", "too-slow", "sqlite-too-slow"] {
            #expect(byName["rule:" + name]?["status"] as? String == "error", "\(name): \(byName["rule:" + name] ?? [:])")
        }
        #expect(detail("failing-query").contains("'each' on source 'backend'") && detail("failing-query").contains("no_such_column"))
        #expect(detail("sqlite-writes").contains("tries to write"))
        #expect(detail("postgres-writes").contains("'exists_in' on source '\(f.fhirSource)'") && detail("postgres-writes").contains("tries to write"))
        #expect(detail("too-slow").contains("statement_timeout (1s)"))
        #expect(detail("sqlite-too-slow").contains("'left' on source 'backend'") && detail("sqlite-too-slow").contains("statement_timeout (1s)"))
        // Nothing was written.
        #expect(try f.server.value(f.fhir, "SELECT count(*) FROM patient") == before)
        #expect(try Run.sqlite3(f.workspace.source, "SELECT count(*) FROM appointment;\n").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "31")
        // In text: the table, then one error line naming the checks that could not run.
        expectFailure(try f.run(["check", "--rule", "sqlite-writes"]), code: 82, mentions: ["rule:sqlite-writes", "could not run"])

        // A rule naming a source that is not configured: the config is refused, naming the line.
        try f.writeConfig(rules: """
            rules:
              - name: unconfigured
                kind: count
                left:  { source: backend, query: "SELECT 1" }
                right: { source: billing, query: "SELECT 1" }
            """)
        expectFailure(try f.run(["check"]), code: 78, mentions: ["ehrdata.yaml:13", "billing", "not a configured source"])
    }

    @Test(arguments: ["check", "drill"])
    func helpNamesTheExitStatuses(_ command: String) throws {
        let r = try Run.ehrdata([command, "--help"])
        #expect(r.status == 0)
        for text in ["Examples:", "Exit status", "81", "82", "--json"] {
            #expect(r.stdout.contains(text), "\(command) --help lacks \(text)")
        }
    }

    @Test func withoutAnArchiveCheckRunsAndWarns() throws {
        let f = try CheckFixture()
        try FileManager.default.removeItem(atPath: f.workspace.archive)
        try f.repair()
        let r = try f.run(["check"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("not stored"))
        #expect(r.stderr.contains("the result was not stored"))
    }

    /// 2 million keys per side (SQLite integers against PostgreSQL bigints, compared as text),
    /// 37 of them missing: the exact count, in bounded memory.
    @Test func twoMillionKeysPerSideInBoundedMemory() throws {
        let f = try CheckFixture()
        let missing = [7, 1_000, 65_536, 999_999, 1_999_999] + (0..<32).map { 1_200_000 + $0 * 17 }
        let r0 = try Run.sqlite3(f.workspace.source, """
            CREATE TABLE big (k INTEGER);
            INSERT INTO big SELECT value FROM generate_series(1, 2000000);
            """)
        #expect(r0.status == 0, "\(r0.stderr)")
        try f.server.script(f.fhir, """
            CREATE TABLE big (k bigint);
            INSERT INTO big SELECT g FROM generate_series(1, 2000000) g WHERE g NOT IN (\(missing.map(String.init).joined(separator: ",")));
            INSERT INTO big SELECT g FROM generate_series(2000001, 2000037) g;
            """)
        try f.writeConfig(rules: """
            rules:
              - name: big-keys
                kind: keys
                each:      { source: backend, query: "SELECT k FROM big" }
                exists_in: { source: \(f.fhirSource), query: "SELECT k FROM big" }
            """)
        let r = try f.run(["check", "--rule", "big-keys", "--json"])
        #expect(r.status == 81, "\(r.stderr)")
        let (report, byName) = try CheckFixture.results(r)
        let rule = try #require(byName["rule:big-keys"])
        #expect((rule["violations"] as? NSNumber)?.intValue == missing.count)
        let peak = (report["peakMemoryBytes"] as? NSNumber)?.int64Value ?? 0
        #expect(peak > 0 && peak < 100 << 20, "peak memory \(peak) bytes")
        print("2M-key rule: \(rule["seconds"] ?? "?") s, peak \(peak) bytes")
    }
}
