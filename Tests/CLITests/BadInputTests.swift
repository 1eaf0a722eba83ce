import EHRTestSupport
import Foundation
import Testing

/// Each mistake gets one clear line, its documented exit code, and changes nothing on disk.
@Suite struct BadInputTests {
    @Test func missingSourceFile() throws {
        let ws = try Workspace()
        try FileManager.default.removeItem(atPath: ws.source)
        let before = try ws.archiveState()
        expectFailure(try ws.run(["backup"]), code: 66, mentions: ["backend", ws.source, "does not exist"])
        #expect(try ws.archiveState() == before)
        #expect(try ws.snapshotIDs().isEmpty)
    }

    @Test func sourceThatIsNotADatabase() throws {
        let ws = try Workspace()
        try FileManager.default.removeItem(atPath: ws.source)
        try String(repeating: "these are not the pages you are looking for\n", count: 200)
            .write(toFile: ws.source, atomically: true, encoding: .utf8)
        let before = try ws.archiveState()
        expectFailure(try ws.run(["backup"]), code: 66, mentions: ["backend", "not a SQLite database"])
        #expect(try ws.archiveState() == before)
        #expect(try ws.snapshotIDs().isEmpty)
    }

    @Test func unknownSnapshotId() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let before = try ws.archiveState()
        expectFailure(try ws.run(["verify", "20200101"]), code: 66, mentions: ["20200101", "ehrdata list"])
        expectFailure(try ws.run(["restore", "nope", "--to", ws.dir.file("x.sqlite")]), code: 66, mentions: ["nope"])
        #expect(try ws.archiveState() == before)
    }

    @Test func misspelledConfigKey() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        try ws.writeConfig(extra: "retention:\n  keep_lats: 3\n")
        let before = try ws.archiveState()
        for command in [["backup"], ["list"], ["config", "check"]] {
            expectFailure(try ws.run(command), code: 78, mentions: ["keep_lats", "ehrdata.yaml:7", "keep_last"])
        }
        #expect(try ws.archiveState() == before)
    }

    @Test func wrongTypeInConfig() throws {
        let ws = try Workspace()
        try ws.writeConfig(extra: "compression:\n  level: high\n")
        let before = try ws.archiveState()
        expectFailure(try ws.run(["backup"]), code: 78, mentions: ["compression.level", "whole number", "'high'"])
        #expect(try ws.archiveState() == before)
    }

    @Test func archiveOfANewerFormat() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let marker = ws.archive + "/ehrdata-archive.json"
        let text = try String(contentsOfFile: marker, encoding: .utf8)
        try text.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 2")
            .write(toFile: marker, atomically: true, encoding: .utf8)
        let before = try ws.archiveState()
        for command in [["backup"], ["list"], ["verify"], ["restore", "latest", "--to", ws.dir.file("r.sqlite")]] {
            expectFailure(try ws.run(command), code: 76, mentions: ["version 2", "upgrade"])
        }
        #expect(try ws.archiveState() == before)
    }

    @Test func snapshotManifestOfANewerFormat() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let dir = ws.snapshotDirectory(id)
        let text = try String(contentsOfFile: dir + "/manifest.json", encoding: .utf8)
        // A SQLite-only snapshot is written as version 1; 3 is newer than any this build reads.
        #expect(text.contains("\"version\" : 1"))
        let edited = text.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 3")
        try edited.write(toFile: dir + "/manifest.json", atomically: true, encoding: .utf8)
        // Keep the digest consistent so the version check itself is what refuses it.
        let sum = try Run.program("/bin/sh", ["-c", "cd '\(dir)' && sha256sum manifest.json > manifest.sha256"])
        #expect(sum.status == 0)
        expectFailure(try ws.run(["restore", id, "--to", ws.dir.file("r.sqlite")]), code: 76, mentions: ["version 3"])
    }

    @Test func existingRestoreTarget() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let target = ws.dir.file("precious.sqlite")
        try "keep me".write(toFile: target, atomically: true, encoding: .utf8)
        let before = try ws.archiveState()
        expectFailure(try ws.run(["restore", "latest", "--to", target]), code: 73, mentions: [target, "already exists"])
        #expect(try ws.archiveState() == before)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
    }

    @Test func missingConfigAndMissingArchive() throws {
        let ws = try Workspace(initialise: false)
        expectFailure(try ws.run(["backup"]), code: 66, mentions: [ws.archive, "ehrdata init"])
        let r = try Run.ehrdata(["list", "--config", ws.dir.file("nope.yaml")])
        expectFailure(r, code: 78, mentions: ["nope.yaml", "ehrdata init"])
        #expect(!FileManager.default.fileExists(atPath: ws.archive))
    }

    @Test func usageErrorsExit64() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        #expect(try ws.run(["restore", "latest"]).status == 64) // in place, no terminal, no --yes
        #expect(try ws.run(["verify", "x", "--all"]).status == 64)
        #expect(try ws.run(["frobnicate"]).status == 64)
        // Command-line mistakes read like every other ehrdata error: one line, a usage hint.
        expectFailure(try ws.run(["frobnicate"]), code: 64, mentions: ["frobnicate", "usage: ehrdata"])
        expectFailure(try ws.run(["restore"]), code: 64, mentions: ["<snapshot>", "usage: ehrdata restore", "ehrdata restore --help"])
        expectFailure(try ws.run(["list", "--log-level", "loud"]), code: 64, mentions: ["loud", "warning", "usage: ehrdata list"])
        expectFailure(try ws.run(["verify", "x", "--all"]), code: 64, mentions: ["--all", "usage: ehrdata verify"])
        #expect(!(try ws.run(["frobnicate"]).stderr.contains("Error:")))
    }

    @Test func jsonErrorObjectForScripts() throws {
        let ws = try Workspace()
        let r = try ws.run(["verify", "nope", "--json"])
        #expect(r.status == 66)
        let body = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let error = try #require(body["error"] as? [String: Any])
        #expect(error["exitCode"] as? Int == 66)
        #expect(error["kind"] as? String == "notFound")
    }
}
