import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

@Suite struct RoundTripTests {
    @Test func restoredDatabaseEqualsTheSourceBySqlite3Dump() throws {
        let ws = try Workspace()
        let dumpBefore = try Run.dump(ws.source)
        _ = try ws.ok(["backup"])
        let restored = ws.dir.file("restored.sqlite")
        _ = try ws.ok(["restore", "latest", "--to", restored])

        #expect(try Run.dump(restored) == dumpBefore)
        #expect(dumpBefore.contains("INSERT INTO"))
        for pragma in ["user_version", "page_size", "journal_mode"] {
            let a = try Run.sqlite3(ws.source, "PRAGMA \(pragma);").stdout
            let b = try Run.sqlite3(restored, "PRAGMA \(pragma);").stdout
            #expect(a == b, "\(pragma) differs")
        }
        let mode = (try FileManager.default.attributesOfItem(atPath: restored)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o600)
        // No temp file is left beside the target.
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func backupLeavesTheSourceDirectoryAsItWas() throws {
        let ws = try Workspace()
        func sourceFiles() throws -> [String: String] {
            try TreeState(ws.dir.path).entries.filter { $0.key.hasPrefix("backend.sqlite") }
        }
        let before = try sourceFiles()
        _ = try ws.ok(["backup"])
        #expect(try sourceFiles() == before, "the backup changed or left files beside the source")
    }

    @Test func manifestRecordsSourceFactsAndRowCounts() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let m = try ws.manifestJSON(id)
        #expect(m["format"] as? String == "ehrdata-manifest")
        #expect(m["version"] as? Int == 1)
        #expect(m["snapshotID"] as? String == id)
        let source = try #require((m["sources"] as? [[String: Any]])?.first)
        let sqlite = try #require(source["sqlite"] as? [String: Any])
        #expect(sqlite["journalMode"] as? String == "wal")
        #expect(sqlite["consistency"] as? String == "wal-read-transaction")
        #expect(sqlite["userVersion"] as? Int == Int(try Run.sqlite3(ws.source, "PRAGMA user_version;").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let tables = try #require(sqlite["tables"] as? [[String: Any]])
        #expect(tables.count >= 6)
        for table in tables {
            let name = table["name"] as! String
            let count = try Run.sqlite3(ws.source, "SELECT count(*) FROM \"\(name)\";").stdout
            #expect("\(table["rows"]!)" == count.trimmingCharacters(in: .whitespacesAndNewlines), "row count of \(name)")
        }
        let file = try #require((source["files"] as? [[String: Any]])?.first)
        #expect(file["codec"] as? String == "gzip")
        #expect(file["members"] as? [[String: Any]] != nil)
    }

    @Test func dataFileRestoresByHandWithGunzipAndSha256sum() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let snap = ws.snapshotDirectory(id)
        let check = try Run.program("/bin/sh", ["-c", "cd '\(snap)' && sha256sum -c manifest.sha256"])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        let byHand = ws.dir.file("by-hand.sqlite")
        let gunzip = try Run.program("/bin/sh", ["-c", "gunzip -c '\(snap)/data/backend.sqlite.gz' > '\(byHand)'"])
        #expect(gunzip.status == 0)
        #expect(try Run.dump(byHand) == (try Run.dump(ws.source)))
    }

    @Test func zstdArchiveRoundTripsAndDecompressesByHand() throws {
        let ws = try Workspace()
        try ws.writeConfig(extra: "compression:\n  codec: zstd\n")
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let file = ws.snapshotDirectory(id) + "/data/backend.sqlite.zst"
        #expect(FileManager.default.fileExists(atPath: file))
        let restored = ws.dir.file("restored.sqlite")
        _ = try ws.ok(["restore", "latest", "--to", restored])
        #expect(try Run.dump(restored) == (try Run.dump(ws.source)))
        let byHand = ws.dir.file("by-hand.sqlite")
        #expect(try Run.program("/bin/sh", ["-c", "zstd -q -d -c '\(file)' > '\(byHand)'"]).status == 0)
        #expect(try Run.dump(byHand) == (try Run.dump(ws.source)))
        #expect(try ws.run(["verify", "--deep"]).status == 0)
    }

    @Test func rollbackJournalDatabaseIsCopiedWithWritersBlocked() throws {
        let ws = try Workspace()
        #expect(try Run.sqlite3(ws.source, "PRAGMA journal_mode = DELETE;").stdout.contains("delete"))
        let r = try ws.run(["backup", "--log-level", "warning"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("writers are blocked"))
        let id = try #require(try ws.snapshotIDs().first)
        let sqlite = ((try ws.manifestJSON(id)["sources"] as! [[String: Any]])[0]["sqlite"]) as! [String: Any]
        #expect(sqlite["consistency"] as? String == "writers-blocked")
        let restored = ws.dir.file("r.sqlite")
        _ = try ws.ok(["restore", id, "--to", restored])
        #expect(try Run.dump(restored) == (try Run.dump(ws.source)))
    }

    @Test func listShowsSnapshotsNewestFirstWithVerifyResults() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        _ = try ws.ok(["backup"])
        let ids = try ws.snapshotIDs()
        #expect(ids.count == 2)
        _ = try ws.ok(["verify", ids[0]])
        let json = try ws.ok(["list", "--json"])
        let entries = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[String: Any]]
        #expect(entries.map { $0["id"] as! String } == ids.reversed())
        #expect((entries[1]["lastVerify"] as? [String: Any])?["ok"] as? Bool == true)
        #expect(entries[0]["lastVerify"] == nil)
        #expect((entries[0]["compressedSize"] as? Int ?? 0) > 0)
        let text = try ws.ok(["list"])
        #expect(text.contains(ids[0]) && text.contains("backend"))
    }

    @Test func prefixAndLatestSelectSnapshots() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        #expect(try ws.ok(["verify", String(id.prefix(22))]).contains("ok"))
        #expect(try ws.ok(["verify", "latest", "--json"]).contains("\"ok\" : true"))
    }
}
