import EHRTestSupport
import Foundation
import Testing

/// An in-place SQLite restore killed -9 at every step, followed by the next ehrdata command
/// (`list`): the original set (database, -wal, -shm), WAL-only rows included, is complete where
/// it was, or the restored database is in place and the original set complete beside it.
@Suite struct RestoreKillPointTests {
    static let companions = ["", "-wal", "-shm"]

    func sha(_ path: String) throws -> String {
        try Run.program("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    /// A backed-up workspace whose source then got rows that live only in its -wal.
    func prepared() throws -> (ws: Workspace, id: String, original: [String], restored: String) {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        try RestoreInPlaceTests.leaveWalBehind(ws.source)
        let original = try Self.companions.map { try sha(ws.source + $0) }
        let manifest = try ws.manifestJSON(id)
        let file = ((manifest["sources"] as! [[String: Any]])[0]["files"] as! [[String: Any]])[0]
        return (ws, id, original, (file["uncompressed"] as! [String: Any])["sha256"] as! String)
    }

    /// The state the requirement allows, after the kill and the next command.
    func expectWholeSet(_ ws: Workspace, original: [String], restored: String, point: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: ws.dir.path)
        let kept = names.filter { $0.hasPrefix("backend.sqlite.pre-restore-") }
        #expect(!names.contains { $0.contains("ehrdata-restore") }, "\(point): a temp file is left: \(names)")
        #expect(!names.contains { $0.contains("displaced") }, "\(point): \(names)")
        let records = (try? FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents")) ?? []
        #expect(records.isEmpty, "\(point): intent records left: \(records)")
        if kept.isEmpty {
            // The original set, byte for byte, where it was: the WAL-only rows are there.
            for (suffix, digest) in zip(Self.companions, original) {
                #expect(try sha(ws.source + suffix) == digest, "\(point): backend.sqlite\(suffix) is not the original")
            }
        } else {
            #expect(try sha(ws.source) == restored, "\(point): the database in place is neither the original nor the snapshot")
            #expect(!FileManager.default.fileExists(atPath: ws.source + "-wal"), "\(point): a stale -wal beside the restored copy")
            let base = try #require(kept.first { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") })
            for (suffix, digest) in zip(Self.companions, original) {
                #expect(try sha(ws.dir.file(base + suffix)) == digest, "\(point): kept\(suffix) is not the original")
            }
        }
    }

    @Test(arguments: [
        "restore-before-swap", "sqlite-swap-rename-1", "sqlite-swap-rename-2", "sqlite-swap-rename-3",
        "sqlite-swap-rename-restored", "sqlite-swap-done",
    ])
    func aKillAtEveryStepOfTheSwapLeavesAWholeSet(_ point: String) throws {
        let (ws, id, original, restored) = try prepared()
        let restore = try Background(["restore", id, "--yes"], config: ws.config, environment: ["EHRDATA_TEST_PAUSE_AT": point])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: point)
        restore.kill9()

        let next = try ws.run(["list"])
        #expect(next.status == 0, "\(next.stderr)")
        if point != "restore-before-swap" {
            #expect(next.stderr.contains("interrupted"), "\(point): the next command did not say what it did: \(next.stderr)")
        }
        try expectWholeSet(ws, original: original, restored: restored, point: point)
        // Either way, a restore now goes through and the data is the snapshot's.
        _ = try ws.ok(["restore", id, "--yes"])
        #expect(try sha(ws.source) == restored)
    }

    @Test func aKillWhileTheCopyIsWrittenLeavesNothingTheNextCommandDoesNotRemove() throws {
        let (ws, id, original, restored) = try prepared()
        // Killed after some bytes of the temp copy: a hidden temp file beside the database.
        let r = try ws.run(["restore", id, "--yes"], environment: ["EHRDATA_TEST_ABORT_AFTER_BYTES": "4096"])
        #expect(r.status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).contains { $0.contains("ehrdata-restore") })
        let next = try ws.run(["list"])
        #expect(next.status == 0)
        #expect(next.stderr.contains("temp file"), "\(next.stderr)")
        try expectWholeSet(ws, original: original, restored: restored, point: "copy")
    }

    @Test func aFileCreatedAtTheTargetAfterTheKillIsKeptAsideNotLost() throws {
        let (ws, id, original, _) = try prepared()
        let restore = try Background(["restore", id, "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "sqlite-swap-rename-restored"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "sqlite-swap-rename-restored")
        restore.kill9()
        // A service started meanwhile found no database and created an empty one.
        try "new".write(toFile: ws.source, atomically: false, encoding: .utf8)

        let next = try ws.run(["list"])
        #expect(next.status == 0, "\(next.stderr)")
        for (suffix, digest) in zip(Self.companions, original) {
            #expect(try sha(ws.source + suffix) == digest, "backend.sqlite\(suffix) is not the original")
        }
        let displaced = try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).filter { $0.contains(".displaced-") }
        #expect(displaced.count == 1, "\(displaced)")
        #expect(try String(contentsOfFile: ws.dir.file(displaced[0]), encoding: .utf8) == "new")
    }

    @Test func aLiveRestoresRecordIsLeftAlone() throws {
        let (ws, id, _, _) = try prepared()
        let restore = try Background(["restore", id, "--to", ws.dir.file("copy.sqlite")], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "restore-before-swap"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "restore-before-swap")
        let records = try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents")
        #expect(records.count == 1)
        let next = try ws.run(["list"])
        #expect(next.status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents") == records)
        restore.resume()
        let done = finishBackground(restore, what: "restore --to")
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").isEmpty)
    }

    @Test func aRenameThatFailsDuringTheSwapIsUndoneAtOnce() throws {
        let (ws, id, original, _) = try prepared()
        let restore = try Background(["restore", id, "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "sqlite-swap-rename-restored"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "sqlite-swap-rename-restored")
        // A service recreates its database while the originals are aside: the last rename fails.
        try "new".write(toFile: ws.source, atomically: false, encoding: .utf8)
        restore.resume()
        let r = finishBackground(restore, what: "the restore")
        expectFailure(r, code: 73, mentions: ["undone", "nothing changed"])
        for (suffix, digest) in zip(Self.companions, original) {
            #expect(try sha(ws.source + suffix) == digest, "backend.sqlite\(suffix) is not the original")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: ws.dir.path)
        #expect(names.filter { $0.contains(".displaced-") }.count == 1, "\(names)")
        #expect(!names.contains { $0.contains("ehrdata-restore") || $0.contains("pre-restore") }, "\(names)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").isEmpty)
    }

    /// An intent record is archive content, so untrusted: one that names files a restore would
    /// not have touched changes nothing.
    @Test func aHostileIntentRecordChangesNothing() throws {
        let (ws, id, _, _) = try prepared()
        let victim = ws.dir.file("victim")
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        for name in ["important.txt", "other.txt"] { try name.write(toFile: victim + "/" + name, atomically: true, encoding: .utf8) }
        let before = try TreeState(ws.dir.path)
        try FileManager.default.createDirectory(atPath: ws.archive + "/intents", withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName
        func record(_ name: String, _ fields: String) throws {
            try """
            {"format": "ehrdata-intent", "version": 1, "kind": "sqlite", "createdAt": "2026-12-01T00:00:00.000Z",
             "host": "\(host)", "pid": 999999, "snapshot": "\(id)", "source": "backend", \(fields)}
            """.write(toFile: ws.archive + "/intents/" + name, atomically: true, encoding: .utf8)
        }
        try record("20261201T000000-999999-0001.json", """
            "phase": "prepare", "sqlite": {"target": "\(victim)/x", "temp": "\(victim)/important.txt", "inPlace": false}
            """)
        try record("20261201T000000-999999-0002.json", """
            "phase": "swap", "sqlite": {"target": "\(ws.source)", "temp": "\(ws.dir.file(".backend.sqlite.ehrdata-restore-999999.tmp"))",
              "inPlace": true, "moves": [{"from": "\(victim)/moved-here", "to": "\(victim)/other.txt"}]}
            """)
        try record("20261201T000000-999999-0003.json", """
            "phase": "swap", "sqlite": {"target": "\(victim)/other.txt", "temp": "\(victim)/.other.txt.ehrdata-restore-999999.tmp",
              "inPlace": true, "moves": [{"from": "\(victim)/other.txt", "to": "\(victim)/other.txt.pre-restore-20261201T000000.000Z"}]}
            """)
        let next = try ws.run(["list"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("ignoring an intent record"), "\(next.stderr)")
        var after = try TreeState(ws.dir.path)
        for key in after.entries.keys where key.hasPrefix("archive/intents") || key.hasSuffix(".lock") { after.entries[key] = nil }
        var expected = before
        for key in expected.entries.keys where key.hasSuffix(".lock") { expected.entries[key] = nil }
        #expect(after == expected, "the record changed files")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").isEmpty)
    }
}

