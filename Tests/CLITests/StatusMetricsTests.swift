import EHRTestSupport
import Foundation
import Testing

/// `ehrdata status` for monitoring (exit 83 on a stale or missing backup) and the Prometheus
/// metrics file, read back by a real text-format parser (python3-prometheus-client).
@Suite struct StatusMetricsTests {
    @Test func statusExitCodesForAFreshAndAStaleArchive() throws {
        let ws = try Workspace()
        // No backup at all: stale for any --max-age.
        let none = try ws.run(["status", "--max-age", "26h"])
        expectFailure(none, code: 83, mentions: ["backend", "does not exist"])
        #expect(none.stdout.contains("last good backup: none"))
        #expect(try ws.run(["status"]).status == 0)

        try ws.backup(at: "20261201T020000Z")
        // One hour later: fresh. Three days later: stale.
        let fresh = try ws.run(["status", "--max-age", "26h"], environment: ["EHRDATA_TEST_NOW": "20261201T030000Z"])
        #expect(fresh.status == 0, "\(fresh.stderr)")
        #expect(fresh.stdout.contains("last good backup: 2026120"))
        let stale = try ws.run(["status", "--max-age", "26h"], environment: ["EHRDATA_TEST_NOW": "20261204T020000Z"])
        expectFailure(stale, code: 83, mentions: ["backend", "3d old", "--max-age 26h"])
        #expect(try ws.run(["status", "--max-age", "4d"], environment: ["EHRDATA_TEST_NOW": "20261204T020000Z"]).status == 0)
        #expect(try ws.run(["status", "--max-age", "soon"]).status == 64)
        let staleJSON = try ws.run(["status", "--max-age", "26h", "--json"], environment: ["EHRDATA_TEST_NOW": "20261204T020000Z"])
        #expect(staleJSON.status == 83)
        let report = try JSONSerialization.jsonObject(with: Data(staleJSON.stdout.utf8)) as? [String: Any]
        #expect(report?["staleSources"] as? [String] == ["backend"])

        let json = try ws.run(["status", "--json"], environment: ["EHRDATA_TEST_NOW": "20261201T030000Z"])
        let health = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let source = try #require((health["sources"] as? [[String: Any]])?.first)
        #expect(source["name"] as? String == "backend")
        #expect(source["lastCheck"] is NSNull && source["lastDrill"] is NSNull)
        let lastGood = try #require(source["lastGood"] as? [String: Any])
        #expect((lastGood["ageSeconds"] as? Double).map { $0 > 3500 && $0 < 3700 } == true)
        #expect((lastGood["compressedSize"] as? Int ?? 0) > 0)
        #expect(health["snapshots"] as? Int == 1)
        #expect((health["archiveBytes"] as? Int ?? 0) > 0)
        #expect(health["freeBytes"] is Int && health["nightsLeft"] is Int)
    }

    @Test func aDamagedSourceIsNotAGoodBackup() throws {
        let seed = TempDirectory()
        let db = seed.file("journal.sqlite")
        #expect(try Run.sqlite3(db, """
            PRAGMA page_size = 1024; PRAGMA journal_mode = DELETE;
            CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
            INSERT INTO t(v) SELECT printf('value %d', i) FROM c;
            """).status == 0)
        let ws = try Workspace(database: db)
        try ws.backup(at: "20261201T020000Z")
        // Random bytes over a page of the table (as IncidentBackupTests): published, flagged, 84.
        let handle = try #require(FileHandle(forWritingAtPath: ws.source))
        try handle.seek(toOffset: 1024 * 5)
        handle.write(Data((0..<1024).map { _ in UInt8.random(in: 0 ... 255) }))
        try handle.close()
        #expect(try ws.run(["backup"], environment: ["EHRDATA_TEST_NOW": "20261203T020000Z"]).status == 84)
        let status = try ws.run(["status", "--max-age", "26h"], environment: ["EHRDATA_TEST_NOW": "20261203T030000Z"])
        expectFailure(status, code: 83, mentions: ["backend"])
        #expect(status.stdout.contains("last good backup: 20261201T020000"))
        #expect(status.stdout.contains("last backup run: FAILED"))
        // Prune keeps that last good snapshot even when the rules keep only the newest.
        try ws.writeConfig(extra: "retention:\n  keep_last: 1")
        let pruned = try ws.ok(["prune"])
        #expect(pruned.contains("passed its integrity check"))
        #expect(try ws.snapshotIDs().count == 2)
    }

    /// Parses Prometheus text with prometheus_client's own parser; returns "name{labels}" → value.
    static func parse(_ text: String) throws -> [String: Double] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(sys.stdin.read()):
                assert family.type == "gauge", family.name
                for s in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    out[s.name + ("{" + labels + "}" if labels else "")] = s.value
            print(json.dumps(out))
            """
        let r = try Run.program("/usr/bin/python3", ["-c", script], stdin: text)
        #expect(r.status == 0, "prometheus_client could not parse the metrics: \(r.stderr)")
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double]) ?? [:]
    }

    @Test func theMetricsFileAfterASuccessAndAfterAFailure() throws {
        let ws = try Workspace()
        let file = ws.dir.file("textfile/ehrdata.prom")
        try FileManager.default.createDirectory(atPath: ws.dir.file("textfile"), withIntermediateDirectories: true)
        try ws.writeConfig(extra: "metrics:\n  textfile: \(file)")

        try ws.backup(at: "20261201T020000Z")
        let id = try #require(try ws.snapshotIDs().first)
        let manifest = try ws.manifestJSON(id)
        let finished = try #require((manifest["finishedAt"] as? String).flatMap(Self.epoch))
        let source = try #require((manifest["sources"] as? [[String: Any]])?.first)
        let file0 = try #require((source["files"] as? [[String: Any]])?.first)
        let compressed = try #require((file0["compressed"] as? [String: Any])?["size"] as? Int)
        let uncompressed = try #require((file0["uncompressed"] as? [String: Any])?["size"] as? Int)

        var m = try Self.parse(try String(contentsOfFile: file, encoding: .utf8))
        // The run that wrote it, by the id in the snapshot's manifest and its log lines.
        let runID = try #require(manifest["runID"] as? String)
        #expect(m[#"ehrdata_last_run_info{run="\#(runID)"}"#] != nil, "\(m.keys.sorted())")
        #expect(m[#"ehrdata_backup_success{source="backend"}"#] == 1)
        #expect(m[#"ehrdata_backup_last_success_timestamp_seconds{source="backend"}"#].map { abs($0 - finished) < 0.002 } == true)
        #expect(m[#"ehrdata_backup_size_bytes{source="backend",stage="compressed"}"#] == Double(compressed))
        #expect(m[#"ehrdata_backup_size_bytes{source="backend",stage="uncompressed"}"#] == Double(uncompressed))
        #expect(m[#"ehrdata_backup_duration_seconds{source="backend"}"#].map { $0 >= 0 } == true)
        #expect(m["ehrdata_snapshots"] == 1)
        #expect((m["ehrdata_archive_size_bytes"] ?? 0) >= Double(compressed))
        #expect(m["ehrdata_verify_last_success_timestamp_seconds"] == nil)
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o644)

        // A verify that passes sets the verify timestamp.
        #expect(try ws.run(["verify"], environment: ["EHRDATA_TEST_NOW": "20261201T040000Z"]).status == 0)
        m = try Self.parse(try String(contentsOfFile: file, encoding: .utf8))
        #expect(m["ehrdata_verify_last_success_timestamp_seconds"] == Self.epoch("2026-12-01T04:00:00.000Z"))

        // A failed backup: the source is gone. Success drops to 0, the last success stays.
        try FileManager.default.moveItem(atPath: ws.source, toPath: ws.source + ".away")
        let failed = try ws.run(["backup"], environment: ["EHRDATA_TEST_NOW": "20261202T020000Z"])
        #expect(failed.status == 66)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        m = try Self.parse(text)
        #expect(m[#"ehrdata_backup_success{source="backend"}"#] == 0)
        #expect(m[#"ehrdata_backup_last_success_timestamp_seconds{source="backend"}"#].map { abs($0 - finished) < 0.002 } == true)
        #expect(m["ehrdata_snapshots"] == 1)
        #expect(try ws.ok(["status"]).contains("last backup run: FAILED"))

        // `ehrdata metrics` prints the same (but for the free space, which other files change).
        var printed = try Self.parse(try ws.ok(["metrics"]))
        #expect(printed.removeValue(forKey: "ehrdata_archive_free_bytes") != nil)
        m["ehrdata_archive_free_bytes"] = nil
        // ... and the run that printed it.
        printed = printed.filter { !$0.key.hasPrefix("ehrdata_last_run_info") }
        m = m.filter { !$0.key.hasPrefix("ehrdata_last_run_info") }
        #expect(printed == m)
        // No file is left beside it but the metrics file (the temp was renamed).
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.dir.file("textfile")) == ["ehrdata.prom"])

        // The next success sets it back to 1.
        try FileManager.default.moveItem(atPath: ws.source + ".away", toPath: ws.source)
        try ws.backup(at: "20261203T020000Z")
        m = try Self.parse(try String(contentsOfFile: file, encoding: .utf8))
        #expect(m[#"ehrdata_backup_success{source="backend"}"#] == 1)
        #expect(m["ehrdata_snapshots"] == 2)

        // A check stores its results and the file shows its violations per check.
        let check = try ws.run(["check"])
        #expect(check.status == 0, "\(check.stderr)")
        m = try Self.parse(try String(contentsOfFile: file, encoding: .utf8))
        #expect(m[#"ehrdata_check_violations{rule="integrity",source="backend"}"#] == 0, "\(m.keys.sorted())")
        #expect(try ws.ok(["status", "--json"]).contains("consistent at "))
    }

    static func epoch(_ iso: String) -> Double? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: iso)?.timeIntervalSince1970
    }
}
