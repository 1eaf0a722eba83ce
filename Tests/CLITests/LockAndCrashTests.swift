import EHRTestSupport
import Foundation
import Testing

@Suite struct LockTests {
    @Test func aHeldBackupBlocksWritersButNotReaders() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let first = try Background(["backup"], config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": "backup-before-publish"])
        #expect(first.waitUntilPaused())

        // A second writer exits at once with the locked code, naming the holder.
        expectFailure(try ws.run(["backup"]), code: 75,
                      mentions: ["command=backup", "pid=\(first.process.processIdentifier)", "--wait-lock"])
        expectFailure(try ws.run(["restore", "latest", "--yes"]), code: 75, mentions: ["command=backup"])
        // Readers keep working, and never see the unpublished snapshot.
        #expect(try ws.run(["list"]).status == 0)
        #expect(try ws.run(["verify"]).status == 0)
        #expect(try ws.snapshotIDs().count == 1)
        #expect(try ws.run(["restore", "latest", "--to", ws.dir.file("copy.sqlite")]).status == 0)

        // A writer that waits gets its turn once the first ends.
        let waiting = try Background(["backup", "--wait-lock", "30s"], config: ws.config)
        first.resume()
        #expect(first.finish().status == 0)
        let second = waiting.finish()
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try ws.snapshotIDs().count == 3)
        #expect(try ws.run(["verify", "--all"]).status == 0)
    }

    @Test func aKilledHolderLeavesNoLockBehind() throws {
        let ws = try Workspace()
        let holder = try Background(["backup"], config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": "backup-before-publish"])
        #expect(holder.waitUntilPaused())
        #expect(try ws.run(["backup"]).status == 75)
        holder.kill9()
        let next = try ws.run(["backup"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try ws.snapshotIDs().count == 1)
    }

    @Test func badWaitLockIsAUsageError() throws {
        let ws = try Workspace()
        let r = try ws.run(["backup", "--wait-lock", "soon"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--wait-lock"))
    }
}

/// A backup killed at any point leaves nothing listed, and the next one cleans up and succeeds.
@Suite struct CrashTests {
    /// A database big enough for several 4 MiB gzip members.
    static func multiMemberDatabase(_ path: String) throws {
        let r = try Run.sqlite3(path, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
            INSERT INTO t(body) SELECT hex(randomblob(2000)) FROM c;
            """)
        #expect(r.status == 0)
    }

    @Test func killedMidDataFileLeavesPartialStagingOnlyAndTheNextBackupRecovers() throws {
        let seed = TempDirectory()
        try Self.multiMemberDatabase(seed.file("db.sqlite"))
        let ws = try Workspace(database: seed.file("db.sqlite"))
        _ = try ws.ok(["backup"])
        let paused = try Background(["backup"], config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AFTER_BYTES": "1"])
        #expect(paused.waitUntilPaused())
        // Partial data sits in staging, unlisted.
        let staging = try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/staging")
        #expect(staging.count == 1)
        let partial = ws.archive + "/staging/" + staging[0] + "/data/backend.sqlite.gz"
        let partialSize = try FileManager.default.attributesOfItem(atPath: partial)[.size] as! Int
        #expect(partialSize > 0)
        #expect(!FileManager.default.fileExists(atPath: ws.archive + "/staging/" + staging[0] + "/manifest.json"))
        #expect(try ws.snapshotIDs().count == 1)
        paused.kill9()

        #expect(try ws.snapshotIDs().count == 1)
        let list = try JSONSerialization.jsonObject(with: Data(try ws.ok(["list", "--json"]).utf8)) as! [[String: Any]]
        #expect(list.count == 1)
        let next = try ws.run(["backup", "--log-level", "info"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("removing staging data left by an interrupted backup"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/staging").isEmpty)
        #expect(try ws.run(["verify", "--all"]).status == 0)
    }

    @Test func killedAtSeveralPointsPublishesNothing() throws {
        let seed = TempDirectory()
        try Self.multiMemberDatabase(seed.file("db.sqlite"))
        let ws = try Workspace(database: seed.file("db.sqlite"))
        _ = try ws.ok(["backup"])
        let reference = try #require(try ws.snapshotIDs().first)
        let m = try ws.manifestJSON(reference)
        let file = ((m["sources"] as! [[String: Any]])[0]["files"] as! [[String: Any]])[0]
        let members = (file["members"] as! [[String: Any]]).map { $0["compressedSize"] as! Int }
        #expect(members.count >= 3)
        let dataBytes = members.reduce(0, +)
        let manifestBytes = try FileManager.default.attributesOfItem(atPath: ws.snapshotDirectory(reference) + "/manifest.json")[.size] as! Int
        // After the first member, mid-file, after the data file, after manifest.json, after manifest.sha256.
        let points = [1, members[0] + 1, dataBytes - 1, dataBytes + 1, dataBytes + manifestBytes + 1]
        for point in points {
            let r = try ws.run(["backup"], environment: ["EHRDATA_TEST_ABORT_AFTER_BYTES": "\(point)"])
            #expect(r.status == 9, "backup was not killed at \(point): \(r.status)")
            #expect(try ws.snapshotIDs() == [reference], "a partial snapshot was published at \(point)")
            #expect(try ws.run(["verify", "--all"]).status == 0)
        }
        #expect(try ws.run(["backup"]).status == 0)
        #expect(try ws.snapshotIDs().count == 2)
        #expect(try ws.run(["verify", "--all"]).status == 0)
    }
}
