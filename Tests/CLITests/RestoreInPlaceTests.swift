import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

@Suite struct RestoreInPlaceTests {
    /// Commits through a sqlite3 process and kills it -9, so the database is left with a -wal and
    /// -shm holding committed data and no process has it open (a crashed service).
    static func leaveWalBehind(_ database: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("""
            PRAGMA wal_autocheckpoint = 0;
            INSERT INTO notes(encounter_id, author, written_at, body) SELECT encounter_id, author, written_at, 'after the snapshot' FROM notes LIMIT 5;
            SELECT 'committed';\n
            """.utf8))
        // Wait for the commit to be acknowledged, then crash the writer.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("committed") {
            seen.append(output.fileHandleForReading.availableData)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func sha(_ path: String) throws -> String {
        try Run.program("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    @Test func keepsTheReplacedDatabaseAndItsWalByteForByte() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let snapshotDump = try Run.dump(ws.source)
        try Self.leaveWalBehind(ws.source)
        let companions = ["", "-wal", "-shm"]
        #expect(companions.allSatisfy { FileManager.default.fileExists(atPath: ws.source + $0) })
        let before = try companions.map { try sha(ws.source + $0) }
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: ws.source)

        let r = try ws.run(["restore", id, "--yes"])
        #expect(r.status == 0, "\(r.stderr)")

        let kept = try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).filter { $0.contains(".pre-restore-") }.sorted()
        #expect(kept.count == 3, "\(kept)")
        let base = try #require(kept.first { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") })
        for (suffix, digest) in zip(companions, before) {
            #expect(try sha(ws.dir.file(base + suffix)) == digest, "kept\(suffix) differs from what it replaced")
        }
        // The restored database is the snapshot, with no stale WAL beside it.
        #expect(!FileManager.default.fileExists(atPath: ws.source + "-wal"))
        let manifest = try ws.manifestJSON(id)
        let file = ((manifest["sources"] as! [[String: Any]])[0]["files"] as! [[String: Any]])[0]
        #expect(try sha(ws.source) == (file["uncompressed"] as! [String: Any])["sha256"] as! String)
        #expect(try Run.dump(ws.source) == snapshotDump)
        let mode = (try FileManager.default.attributesOfItem(atPath: ws.source)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o640, "the restored file did not take the replaced one's mode")
        // The kept copy still opens with its WAL: the rows written after the snapshot are there.
        let keptCount = try Run.sqlite3(ws.dir.file(base), "SELECT count(*) FROM notes WHERE body = 'after the snapshot';").stdout
        #expect(keptCount.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
    }

    @Test func killedBeforeTheSwapLeavesTheOriginalUntouched() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        try Self.leaveWalBehind(ws.source)
        let before = try ws.archiveState()
        let restore = try Background(["restore", "latest", "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "restore-before-swap"])
        #expect(restore.waitUntilPaused())
        // The verified copy is ready beside the target; nothing else has moved.
        let temps = try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).filter { $0.hasSuffix(".tmp") }
        #expect(temps.count == 1)
        restore.kill9()
        // The killed restore's intent record is its only trace in the archive, and the next
        // command removes it together with the temp file.
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").count == 1)
        _ = try ws.ok(["list"])
        var after = try ws.archiveState()
        after.entries["archive/intents"] = nil
        #expect(after == before)
    }

    @Test func refusesADatabaseAnotherProcessHasOpenUnlessForced() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let holder = try RestoreFlowTests.Holder(ws.source)
        defer { holder.close() }
        let before = try ws.archiveState()
        expectFailure(try ws.run(["restore", "latest", "--yes"]), code: 75,
                      mentions: ["pid \(holder.pid)", "sqlite3", "--force"])
        #expect(try ws.archiveState() == before)
        let forced = try ws.run(["restore", "latest", "--yes", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).contains { $0.contains(".pre-restore-") })
    }

    @Test func dryRunShowsThePlanAndChangesNothing() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let before = try TreeState(ws.dir.path)
        let r = try ws.run(["restore", "latest", "--dry-run"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("keeps \(ws.source)"))
        #expect(r.stdout.contains(".pre-restore-"))
        let json = try ws.run(["restore", "latest", "--dry-run", "--json"])
        let plan = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        #expect((plan["restored"] as? [Any])?.isEmpty == true)
        #expect((plan["plan"] as? [String: Any])?["inPlace"] as? Bool == true)
        #expect(try TreeState(ws.dir.path) == before)
    }

    @Test func inPlaceWithoutATerminalNeedsYes() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let before = try TreeState(ws.dir.path)
        expectFailure(try ws.run(["restore", "latest"]), code: 64, mentions: ["--yes"])
        #expect(try TreeState(ws.dir.path) == before)
    }

    @Test func restoresAMissingDatabaseInPlace() throws {
        let ws = try Workspace()
        let dump = try Run.dump(ws.source)
        _ = try ws.ok(["backup"])
        try FileManager.default.removeItem(atPath: ws.source)
        let r = try ws.run(["restore", "latest", "--yes"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Run.dump(ws.source) == dump)
    }
}

@Suite struct DeepVerifyTests {
    @Test func deepVerifyPassesAndIsRecorded() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let out = try ws.ok(["verify", "--deep", "--json"])
        let reports = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        #expect(reports.first?["depth"] as? String == "deep")
        let id = try #require(try ws.snapshotIDs().first)
        let record = try String(contentsOfFile: ws.snapshotDirectory(id) + "/verify.json", encoding: .utf8)
        #expect(record.contains("\"depth\" : \"deep\""))
    }

    /// A data file rewritten consistently with its compressed digest (as a buggy writer or a
    /// careful attacker might) passes checksums; only deep verification inflates and sees it.
    @Test func deepCatchesWhatChecksumsCannot() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let dir = ws.snapshotDirectory(id)
        let other = ws.dir.file("other.sqlite")
        #expect(try Run.sqlite3(other, "CREATE TABLE x(y); INSERT INTO x VALUES (1);").status == 0)
        let gz = try Run.program("/bin/sh", ["-c", "gzip -c -n '\(other)' > '\(dir)/data/backend.sqlite.gz' && sha256sum < '\(dir)/data/backend.sqlite.gz' && stat -c %s '\(dir)/data/backend.sqlite.gz'"])
        let parts = gz.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "-" }).map(String.init)
        var manifest = try String(contentsOfFile: dir + "/manifest.json", encoding: .utf8)
        let m = try ws.manifestJSON(id)
        let file = ((m["sources"] as! [[String: Any]])[0]["files"] as! [[String: Any]])[0]
        let compressed = file["compressed"] as! [String: Any]
        manifest = manifest.replacingOccurrences(of: compressed["sha256"] as! String, with: parts[0])
            .replacingOccurrences(of: "\"size\" : \(compressed["size"]!)", with: "\"size\" : \(parts[1])")
        try manifest.write(toFile: dir + "/manifest.json", atomically: true, encoding: .utf8)
        _ = try Run.program("/bin/sh", ["-c", "cd '\(dir)' && sha256sum manifest.json > manifest.sha256"])

        #expect(try ws.run(["verify"]).status == 0)
        let deep = try ws.run(["verify", "--deep"])
        #expect(deep.status == 65)
        #expect(deep.stdout.contains("data/backend.sqlite.gz"))
    }

    @Test func deepRunsIntegrityCheckOnTheCopy() throws {
        let seed = TempDirectory()
        let db = seed.file("damaged.sqlite")
        #expect(try Run.sqlite3(db, """
            PRAGMA page_size = 1024;
            CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
            INSERT INTO t(v) SELECT printf('value %d', i) FROM c;
            """).status == 0)
        // Zero a page in the middle of the index: a database SQLite still opens but that is damaged.
        let pages = Int(try Run.sqlite3(db, "PRAGMA page_count;").stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
        _ = try Run.program("/bin/dd", ["if=/dev/zero", "of=\(db)", "bs=1024", "seek=\(pages - 3)", "count=1", "conv=notrunc"])
        let ws = try Workspace(database: db)
        // The backup sees the damage (integrity_check of the copied pages), publishes the snapshot
        // all the same (it is the current state, and may be all there is), and says so: 84.
        let backup = try ws.run(["backup"])
        expectFailure(backup, code: 84, mentions: ["published", "backend", "damaged"])
        let id = try #require(try ws.snapshotIDs().first, "the damaged source's snapshot was not published")
        let check = try #require(((try ws.manifestJSON(id)["sources"] as? [[String: Any]])?[0]["sourceCheck"]) as? [String: Any])
        #expect(check["ok"] as? Bool == false && check["method"] as? String == "integrity_check")
        #expect(try ws.ok(["list"]).contains("backend (source damaged)"))
        let shown = try ws.ok(["show", id])
        #expect(shown.contains("SOURCE DAMAGED (integrity_check)"), "\(shown)")

        #expect(try ws.run(["verify"]).status == 0)
        let deep = try ws.run(["verify", "--deep"])
        #expect(deep.status == 65)
        #expect(deep.stdout.contains("integrity_check"))
        #expect(deep.stderr.split(separator: "\n").filter { $0.hasPrefix("ehrdata: error:") }.count == 1)
        // A checksums pass after the deep failure does not hide it.
        let again = try ws.run(["verify"])
        #expect(again.status == 0 && again.stdout.contains("stays FAILED (deep)"), "\(again.stdout)")
        let list = try ws.ok(["list"])
        #expect(list.contains("FAILED (deep)") && !list.contains("ok ("), "\(list)")
        // Restore refuses to put the damaged copy anywhere.
        #expect(try ws.run(["restore", "latest", "--to", ws.dir.file("r.sqlite")]).status == 65)
    }
}

@Suite struct ConfigWarningTests {
    @Test func warnsAboutVolatileRelativeMissingAndSharedPlacements() throws {
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        try #require(mounts.contains(" /dev/shm tmpfs "), "this test needs /dev/shm on tmpfs")
        let dir = TempDirectory()
        let shm = "/dev/shm/ehrdata-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: shm, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shm) }
        try FileManager.default.copyItem(atPath: Repository.fixture, toPath: shm + "/on-tmpfs.sqlite")
        try FileManager.default.copyItem(atPath: Repository.fixture, toPath: dir.file("beside.sqlite"))
        try """
        archive: \(dir.file("archive"))
        sources:
          - name: volatile
            kind: sqlite
            path: \(shm)/on-tmpfs.sqlite
          - name: relative
            kind: sqlite
            path: beside.sqlite
        """.write(toFile: dir.file("c.yaml"), atomically: true, encoding: .utf8)
        let r = try Run.ehrdata(["config", "check", "--config", dir.file("c.yaml")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("source 'volatile'") && r.stdout.contains("tmpfs"))
        #expect(r.stdout.contains("'beside.sqlite' is relative"))
        #expect(r.stdout.contains("source 'relative': the archive is on the same filesystem"))
        #expect(!r.stdout.contains("source 'volatile': the archive is on the same filesystem"))
    }
}
