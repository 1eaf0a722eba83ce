import EHRTestSupport
import Foundation
import Testing

/// `ehrdata drill` end to end: snapshots of the two-service fixture restored into scratch
/// places on the real server, checked, and removed.
@Suite struct DrillTests {
    @Test func aDrillOfAGoodSnapshotPassesAndLeavesNothingBehind() throws {
        let f = try CheckFixture()
        try f.repair()
        #expect(try f.run(["backup"]).status == 0)
        let r = try f.run(["drill", "--scratch-dir", f.scratch.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        try f.expectResults(r, failing: [:], amcheck: "pass")
        let (report, _) = try CheckFixture.results(r)
        let steps = try #require(report["steps"] as? [[String: Any]])
        #expect(steps.map { $0["name"] as? String ?? "" } == ["verify", "restore", "restore", "checks", "cleanup"])
        #expect(steps.allSatisfy { $0["ok"] as? Bool == true && $0["seconds"] is NSNumber })
        #expect(try f.scratchDatabases().isEmpty)
        #expect(try f.scratchFiles().isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: f.workspace.archive + "/intents")) ?? []).isEmpty)
        #expect(FileManager.default.fileExists(atPath: f.workspace.archive + "/results/drill.json"))
        // The live databases were not touched by amcheck: drill creates it only in its copies.
        #expect(try f.server.value(f.fhir, "SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'") == "0")
    }

    @Test func aDrillOfASnapshotWithPlantedInconsistenciesReportsThem() throws {
        let f = try CheckFixture()
        #expect(try f.run(["backup"]).status == 0)
        let r = try f.run(["drill", "latest", "--scratch-dir", f.scratch.path, "--json"])
        #expect(r.status == 81, "\(r.stderr)")
        try f.expectResults(r, failing: CheckFixture.planted, amcheck: "pass")
        #expect(try f.scratchDatabases().isEmpty)
        #expect(try f.scratchFiles().isEmpty)
        let text = try f.run(["drill", "--scratch-dir", f.scratch.path])
        expectFailure(text, code: 81, mentions: ["drill found inconsistencies", "not_valid"])
        #expect(text.stdout.contains("STEP") && text.stdout.contains("cleanup"))
    }

    @Test func aCorruptedBTreeIndexPageIsReportedByAmcheckInADrill() throws {
        let f = try CheckFixture()
        try f.repair()
        try f.server.script(f.fhir, """
            CREATE TABLE code (id int PRIMARY KEY, system text, value text);
            INSERT INTO code SELECT g, 'loinc', 'code-' || g FROM generate_series(1, 2000) g;
            CREATE INDEX code_value_idx ON code (value);
            """)
        #expect(try f.run(["backup"]).status == 0)
        let drill = try Background(["drill", "--scratch-dir", f.scratch.path, "--json"], config: f.workspace.config,
                                   environment: ["EHRDATA_TEST_PAUSE_AT": "drill-before-checks"])
        defer { drill.killIfRunning() }
        try requirePaused(drill, at: "drill-before-checks")
        let scratch = try #require(try f.scratchDatabases().first)
        // The index was built by the restore and written straight to its file; nothing has read
        // it since. Garbage after the header of its first leaf page, on disk.
        let file = try f.server.value(scratch, "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('code_value_idx')")
        let handle = try #require(FileHandle(forUpdatingAtPath: file), "cannot open \(file)")
        try handle.seek(toOffset: 8192 + 24)
        handle.write(Data(repeating: 0x5A, count: 4000))
        try handle.close()
        drill.resume()
        let r = finishBackground(drill, what: "drill")
        #expect(r.status == 81, "\(r.stderr)")
        let (_, byName) = try CheckFixture.results(r)
        let amcheck = try #require(byName["amcheck"])
        #expect(amcheck["status"] as? String == "fail" && (amcheck["violations"] as? NSNumber)?.intValue == 1, "\(amcheck)")
        #expect((amcheck["detail"] as? String ?? "").contains("code_value_idx"))
        #expect(byName.filter { $0.key != "amcheck" }.allSatisfy { $0.value["status"] as? String == "pass" }, "\(byName)")
        #expect(try f.scratchDatabases().isEmpty)
    }

    @Test func aDrillKilledMidwayLeavesScratchCopiesTheNextDrillRemoves() throws {
        let f = try CheckFixture()
        try f.repair()
        #expect(try f.run(["backup"]).status == 0)
        let killed = try f.run(["drill", "--scratch-dir", f.scratch.path], environment: ["EHRDATA_TEST_KILL_AT": "drill-before-checks"])
        #expect(killed.status == 9 || killed.status == 137 || killed.status < 0 || killed.status == 128 + 9, "status \(killed.status)")
        #expect(try f.scratchDatabases().count == 1)
        #expect(try f.scratchFiles().count == 1)
        let next = try f.run(["drill", "--scratch-dir", f.scratch.path, "--json", "--log-level", "warning"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("dropped the work database of an interrupted restore"))
        #expect(next.stderr.contains("removed the temp file of an interrupted restore"))
        #expect(try f.scratchDatabases().isEmpty)
        #expect(try f.scratchFiles().isEmpty)
    }

    @Test func drillConnectionPutsTheScratchDatabaseOnAnotherServer() throws {
        let f = try CheckFixture()
        try f.repair()
        let other = try PGServer(variable: "EHRDATA_TEST_PG2")
        try f.writeConfig(rules: f.defaultRules, extra: "drill:\n  connection: \"\(other.connection("postgres"))\"")
        #expect(try f.run(["backup"]).status == 0)
        let drill = try Background(["drill", "--scratch-dir", f.scratch.path, "--json"], config: f.workspace.config,
                                   environment: ["EHRDATA_TEST_PAUSE_AT": "drill-before-checks"])
        defer { drill.killIfRunning() }
        try requirePaused(drill, at: "drill-before-checks")
        let key = f.fhirSource.replacingOccurrences(of: "-", with: "_")
        let onOther = try other.rows("postgres", "SELECT datname FROM pg_database WHERE datname LIKE \(literal("ehrdata_drill_%" + key))")
        #expect(onOther.count == 1, "scratch databases on the drill server: \(onOther)")
        #expect(try f.scratchDatabases().isEmpty, "nothing on the source's own server")
        drill.resume()
        let r = finishBackground(drill, what: "drill")
        #expect(r.status == 0, "\(r.stderr)")
        try f.expectResults(r, failing: [:], amcheck: "pass")
        #expect(try other.rows("postgres", "SELECT datname FROM pg_database WHERE datname LIKE \(literal("ehrdata_drill_%" + key))").isEmpty)
    }

    @Test func aSnapshotThatDoesNotVerifyIsNotDrilled() throws {
        let f = try CheckFixture()
        #expect(try f.run(["backup"]).status == 0)
        let id = try #require(try f.workspace.snapshotIDs().first)
        let data = f.workspace.snapshotDirectory(id) + "/data"
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: data).first { $0.hasPrefix("backend") })
        let handle = try #require(FileHandle(forUpdatingAtPath: data + "/" + file))
        try handle.seek(toOffset: 40)
        handle.write(Data([0x00, 0x01, 0x02]))
        try handle.close()
        let r = try f.run(["drill", "--scratch-dir", f.scratch.path])
        expectFailure(r, code: 65, mentions: ["does not verify"])
        #expect(try f.scratchDatabases().isEmpty)
        #expect(try f.scratchFiles().isEmpty)
    }
}
