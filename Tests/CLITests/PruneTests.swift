import EHRTestSupport
import Foundation
import Testing

/// `ehrdata prune`, `hold` and `release` end to end: snapshots made at chosen times (the
/// EHRDATA_TEST_NOW clock hook), the real binary, a real archive.
@Suite struct PruneTests {
    /// A workspace whose config carries `retention`, with one backup per time (compact UTC).
    static func workspace(retention: String, times: [String]) throws -> Workspace {
        let ws = try Workspace()
        try ws.writeConfig(extra: "retention:\n" + retention.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        for time in times { try ws.backup(at: time) }
        #expect(try ws.snapshotIDs().count == times.count)
        return ws
    }

    @Test func pruneKeepsExactlyWhatResticsRulesKeep() throws {
        // Berlin time: 2026-12-03 23:30 UTC is 12-04 00:30 there, the same day as 12-04 09:00 UTC.
        let times = ["20261101T020000Z", "20261115T020000Z", "20261124T020000Z", "20261130T020000Z", "20261201T020000Z",
                     "20261202T020000Z", "20261202T140000Z", "20261203T233000Z", "20261204T090000Z", "20261205T020000Z"]
        let ws = try Self.workspace(retention: "keep_last: 2\nkeep_daily: 3\nkeep_weekly: 3\nkeep_monthly: 2\ntime_zone: Europe/Berlin", times: times)
        // By restic's rules, newest first: 12-05 (last, daily, weekly W49, monthly 12), 12-04 09:00
        // (last, daily), 12-03 23:30 UTC (the same Berlin day as 12-04: none), 12-02 14:00
        // (daily), 12-02 02:00 and 12-01 (none: W49 and December already kept), 11-30 (monthly
        // 11; Monday 11-30 is in W49 too), 11-24 (weekly W48), 11-15 (weekly W46), 11-01 (none:
        // every count used up).
        let expected = ["20261205T020000", "20261204T090000", "20261202T140000", "20261130T020000", "20261124T020000", "20261115T020000"]

        let before = try ws.archiveState(), mtimes = try Self.modificationTimes(ws.archive)
        let dry = try ws.json(["prune", "--dry-run", "--json"])
        #expect(try ws.archiveState() == before, "--dry-run changed the archive")
        #expect(try Self.modificationTimes(ws.archive) == mtimes, "--dry-run changed a file's time")
        let decisions = dry["snapshots"] as! [[String: Any]]
        #expect(decisions.filter { $0["keep"] as! Bool }.map { String(($0["id"] as! String).prefix(15)) } == expected)
        let reasons = Dictionary(uniqueKeysWithValues: decisions.map { (String(($0["id"] as! String).prefix(15)), $0["reasons"] as! [String]) })
        #expect(reasons["20261205T020000"] == ["last snapshot", "daily snapshot", "weekly snapshot", "monthly snapshot", "newest snapshot of source backend"])
        #expect(reasons["20261130T020000"] == ["monthly snapshot"])
        #expect(reasons["20261115T020000"] == ["weekly snapshot"])
        #expect(reasons["20261203T233000"] == [])

        let text = try ws.ok(["prune", "--dry-run"])
        #expect(text.contains("would remove 4, keep 6"))
        #expect(text.contains("time zone Europe/Berlin"))

        let real = try ws.json(["prune", "--json"])
        #expect((real["removed"] as! [String]).count == 4)
        #expect(try ws.snapshotIDs().map { String($0.prefix(15)) } == expected.reversed())
        #expect(try ws.run(["verify", "--all"]).status == 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: ws.archive + "/removing")) ?? []).isEmpty)
        // A second prune keeps the same: the rules are stable.
        #expect((try ws.json(["prune", "--json"])["removed"] as! [String]).isEmpty)
    }

    /// Every entry's modification time (lock files aside: they are opened, never written, by a reader).
    static func modificationTimes(_ root: String) throws -> [String: Date] {
        var times: [String: Date] = [:]
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        while let rel = walker.nextObject() as? String {
            if rel.hasSuffix(".lock") { continue }
            times[rel] = try FileManager.default.attributesOfItem(atPath: root + "/" + rel)[.modificationDate] as? Date
        }
        return times
    }

    @Test func aHeldSnapshotSurvivesUntilReleased() throws {
        let ws = try Self.workspace(retention: "keep_last: 1", times: ["20261201T020000Z", "20261202T020000Z", "20261203T020000Z"])
        let oldest = try #require(try ws.snapshotIDs().first)
        let held = try ws.ok(["hold", String(oldest.prefix(13)), "--reason", "litigation 2026-114"])
        #expect(held.contains("held: litigation 2026-114"))
        #expect(FileManager.default.fileExists(atPath: ws.archive + "/holds/\(oldest).json"))

        let list = try JSONSerialization.jsonObject(with: Data(try ws.ok(["list", "--json"]).utf8)) as! [[String: Any]]
        #expect((list.last?["hold"] as? [String: Any])?["reason"] as? String == "litigation 2026-114")
        #expect(try ws.ok(["list"]).contains("held: litigation 2026-114"))
        let status = try ws.json(["status", "--json"])
        #expect(((status["holds"] as! [[String: Any]]).first?["snapshot"] as? String) == oldest)

        let pruned = try ws.json(["prune", "--json"])
        #expect((pruned["removed"] as! [String]).count == 1)
        let decision = (pruned["snapshots"] as! [[String: Any]]).first { $0["id"] as? String == oldest }!
        #expect((decision["reasons"] as! [String]).first?.hasPrefix("held: litigation 2026-114") == true)
        #expect(try ws.snapshotIDs().first == oldest)

        #expect(try ws.ok(["release", oldest]).contains("released"))
        expectFailure(try ws.run(["release", oldest]), code: 66, mentions: ["not held"])
        #expect((try ws.json(["prune", "--json"])["removed"] as! [String]) == [oldest])
        #expect(try ws.snapshotIDs().count == 1)
    }

    /// A snapshot whose verify failed is not "good": the newest one that passed stays too.
    @Test func aSnapshotThatFailedVerifyDoesNotPushTheLastGoodOneOut() throws {
        let ws = try Self.workspace(retention: "keep_last: 1", times: ["20261201T020000Z", "20261202T020000Z", "20261203T020000Z"])
        let ids = try ws.snapshotIDs()
        let data = ws.snapshotDirectory(ids[2]) + "/data/backend.sqlite.gz"
        let handle = try #require(FileHandle(forWritingAtPath: data))
        try handle.seek(toOffset: 100)
        handle.write(Data([0, 1, 2, 3]))
        try handle.close()
        #expect(try ws.run(["verify", ids[2]]).status == 65)
        let pruned = try ws.json(["prune", "--json"])
        #expect(pruned["removed"] as? [String] == [ids[0]])
        let kept = (pruned["snapshots"] as! [[String: Any]]).first { $0["id"] as? String == ids[1] }
        #expect(kept?["reasons"] as? [String] == ["newest snapshot of source backend that passed its integrity check"])
    }

    @Test func holdRefusesABadReason() throws {
        let ws = try Self.workspace(retention: "keep_last: 1", times: ["20261201T020000Z"])
        #expect(try ws.run(["hold", "latest", "--reason", "  "]).status == 64)
        #expect(try ws.run(["hold", "latest", "--reason", String(repeating: "x", count: 501)]).status == 64)
        #expect(try ws.run(["hold", "latest", "--reason", "two\nlines"]).status == 64)
        expectFailure(try ws.run(["hold", "2025", "--reason", "x"]), code: 66, mentions: ["2025"])
    }

    @Test func anEmptyPolicyRemovesNothingAndSaysSo() throws {
        let ws = try Self.workspace(retention: "keep_last: 0", times: ["20261201T020000Z", "20261202T020000Z"])
        let text = try ws.ok(["prune"])
        #expect(text.contains("nothing is removed"))
        #expect(try ws.snapshotIDs().count == 2)
        try ws.writeConfig()
        #expect(try ws.ok(["prune"]).contains("nothing is removed"))
        #expect(try ws.snapshotIDs().count == 2)
    }

    @Test func pruneAndBackupNeverInterleave() throws {
        let ws = try Self.workspace(retention: "keep_last: 1", times: ["20261201T020000Z", "20261202T020000Z", "20261203T020000Z"])
        let backup = try Background(["backup"], config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": "backup-before-publish"])
        #expect(backup.waitUntilPaused())
        expectFailure(try ws.run(["prune"]), code: 75, mentions: ["command=backup"])
        backup.resume()
        #expect(backup.finish().status == 0)

        let prune = try Background(["prune"], config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": "prune-after-unpublish"])
        #expect(prune.waitUntilPaused())
        expectFailure(try ws.run(["backup"]), code: 75, mentions: ["command=prune"])
        expectFailure(try ws.run(["list"]), code: 75, mentions: ["command=prune"])
        expectFailure(try ws.run(["hold", "latest", "--reason", "x"]), code: 75, mentions: ["command=prune"])
        let waiting = try Background(["backup", "--wait-lock", "60s"], config: ws.config)
        prune.resume()
        #expect(prune.finish().status == 0)
        #expect(waiting.finish().status == 0)
        #expect(try ws.snapshotIDs().count == 2)
        #expect(try ws.run(["verify", "--all"]).status == 0)
    }

    @Test func aRestoreReadingASnapshotKeepsItFromBeingPruned() throws {
        let ws = try Self.workspace(retention: "keep_last: 1", times: ["20261201T020000Z", "20261202T020000Z"])
        let oldest = try #require(try ws.snapshotIDs().first)
        let target = ws.dir.file("restored.sqlite")
        let restore = try Background(["restore", oldest, "--to", target], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AFTER_BYTES": "1"])
        #expect(restore.waitUntilPaused())
        expectFailure(try ws.run(["prune"]), code: 75, mentions: ["--wait-lock"])
        #expect(try ws.snapshotIDs().contains(oldest))
        let prune = try Background(["prune", "--wait-lock", "60s"], config: ws.config)
        restore.resume()
        let restored = restore.finish()
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Run.sqlite3(target, "PRAGMA integrity_check;").stdout == "ok\n")
        #expect(prune.finish().status == 0)
        #expect(!(try ws.snapshotIDs().contains(oldest)))
    }

    /// A linked `holds/` or `removing/` is damage: prune removes nothing and deletes nothing
    /// through the link.
    @Test(arguments: ["holds", "removing"])
    func aLinkedHoldsOrRemovingDirectoryStopsPrune(_ name: String) throws {
        let ws = try Self.workspace(retention: "keep_last: 1", times: ["20261201T020000Z", "20261202T020000Z"])
        let outside = ws.dir.file("outside")
        try FileManager.default.createDirectory(atPath: outside + "/keep", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: ws.archive + "/" + name, withDestinationPath: outside)
        expectFailure(try ws.run(["prune"]), code: 65, mentions: [name, "symbolic link"])
        #expect(try ws.snapshotIDs().count == 2)
        #expect(FileManager.default.fileExists(atPath: outside + "/keep"))
    }

    @Test(arguments: ["prune-after-unpublish", "prune-mid-delete", "prune-after-delete"])
    func pruneKilledLeavesAValidArchiveAndTheNextPruneFinishes(_ point: String) throws {
        let ws = try Self.workspace(retention: "keep_last: 1",
                                    times: ["20261201T020000Z", "20261202T020000Z", "20261203T020000Z", "20261204T020000Z"])
        let ids = try ws.snapshotIDs()
        let killed = try ws.run(["prune"], environment: ["EHRDATA_TEST_KILL_AT": point])
        #expect(killed.status == 9, "prune was not killed at \(point): \(killed.status) \(killed.stderr)")
        // The oldest was unpublished first: never listed again; the rest are all still there.
        #expect(try ws.snapshotIDs() == Array(ids.dropFirst()))
        let list = try JSONSerialization.jsonObject(with: Data(try ws.ok(["list", "--json"]).utf8)) as! [[String: Any]]
        #expect(list.count == 3 && !list.contains { $0["id"] as? String == ids[0] })
        #expect(try ws.run(["verify", "--all"]).status == 0)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: ws.archive + "/removing")) ?? []
        #expect(leftovers == (point == "prune-after-delete" ? [] : [ids[0]]))

        let next = try ws.run(["prune", "--json"])
        #expect(next.status == 0, "\(next.stderr)")
        if point != "prune-after-delete" { #expect(next.stderr.contains("interrupted prune")) }
        #expect(try ws.snapshotIDs() == [ids[3]])
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/removing").isEmpty)
        #expect(try ws.run(["verify", "--all"]).status == 0)
    }
}

extension Workspace {
    /// A backup whose snapshot starts at `time` (compact UTC, e.g. 20261201T020000Z).
    func backup(at time: String) throws {
        let r = try run(["backup"], environment: ["EHRDATA_TEST_NOW": time])
        #expect(r.status == 0, "backup at \(time) failed: \(r.stderr)")
    }

    /// A command's --json output, which must succeed.
    func json(_ arguments: [String], environment: [String: String] = [:]) throws -> [String: Any] {
        let r = try run(arguments, environment: environment)
        #expect(r.status == 0, "ehrdata \(arguments.joined(separator: " ")) failed: \(r.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }
}
