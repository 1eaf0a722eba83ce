import EHRTestSupport
import Foundation
import Testing

/// The in-place restore as an on-call engineer meets it: a refusal comes before the prompt and
/// changes nothing, the dry run names the kept files by pattern, several sources are restored
/// all or nothing, and the output names the data-loss window (writes after the snapshot).
@Suite struct RestoreFlowTests {
    /// A sqlite3 process with `database` open, as a running service would have it.
    final class Holder {
        let process = Process()
        private let input = Pipe(), output = Pipe()

        init(_ database: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [database]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data("SELECT 'open';\n".utf8))
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("open") { seen.append(output.fileHandleForReading.availableData) }
        }

        var pid: Int32 { process.processIdentifier }

        func close() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    /// Runs `ehrdata ARGS` on a pseudo-terminal (util-linux `script`), typing `typed` into it:
    /// what a person at a terminal sees, stdout and stderr together.
    static func onTerminal(_ ws: Workspace, _ arguments: [String], typed: String) throws -> ProcessResult {
        let quoted = ([Run.binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try Run.program("/usr/bin/script", ["-qec", quoted.joined(separator: " "), "/dev/null"],
                               environment: ["EHRDATA_CONFIG": ws.config], stdin: typed)
    }

    static func directoryNames(_ ws: Workspace) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).sorted()
    }

    @Test func aRefusedRestoreNeverPromptsAndChangesNothing() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let holder = try Holder(ws.source)
        defer { holder.close() }
        let before = try ws.archiveState()

        // At a terminal, with 'yes' typed ahead: no plan to confirm, no prompt, refused with 75.
        let terminal = try Self.onTerminal(ws, ["restore", "latest"], typed: "yes\n")
        #expect(terminal.status == 75, "expected 75 at a terminal, got \(terminal.status): \(terminal.stdout)")
        #expect(!terminal.stdout.contains("Type 'yes'"), "a refused restore prompted: \(terminal.stdout)")
        #expect(!terminal.stdout.contains("Restore plan"), "a refused restore showed a plan to confirm: \(terminal.stdout)")
        #expect(terminal.stdout.contains("nothing was restored"), "\(terminal.stdout)")
        #expect(terminal.stdout.contains("pid \(holder.pid)"), "\(terminal.stdout)")

        // From a script, with 'yes' on stdin and --yes: the same refusal, one error line.
        let scripted = try Run.program(Run.binary, ["restore", "latest", "--yes"],
                                       environment: ["EHRDATA_CONFIG": ws.config], stdin: "yes\n")
        expectFailure(scripted, code: 75, mentions: ["pid \(holder.pid)", "--force", "nothing was restored"])
        #expect(!scripted.stdout.contains("Type 'yes'"))

        let json = try ws.run(["restore", "latest", "--yes", "--json"])
        #expect(json.status == 75)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])["error"] as? [String: Any]
        #expect((error?["message"] as? String)?.contains("nothing was restored") == true, "\(json.stdout)")

        #expect(try ws.archiveState() == before, "a refused restore changed something")
    }

    @Test func theDryRunOfARefusedRestoreShowsThePlanAndSaysItWouldBeRefused() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let holder = try Holder(ws.source)
        defer { holder.close() }
        let before = try ws.archiveState()

        let r = try ws.run(["restore", "latest", "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("keeps \(ws.source)"), "\(r.stdout)")
        #expect(r.stdout.contains("would be refused"), "\(r.stdout)")
        #expect(r.stdout.contains("exit 75"), "\(r.stdout)")
        #expect(r.stdout.contains("pid \(holder.pid)"), "\(r.stdout)")

        let json = try ws.run(["restore", "latest", "--dry-run", "--json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let plan = try #require(object["plan"] as? [String: Any])
        #expect((plan["refusal"] as? String)?.contains("pid \(holder.pid)") == true, "\(json.stdout)")

        // With --force the plan goes ahead: no refusal.
        let forced = try ws.run(["restore", "latest", "--dry-run", "--force"])
        #expect(forced.status == 0)
        #expect(!forced.stdout.contains("would be refused"), "\(forced.stdout)")
        #expect(try ws.archiveState() == before)
    }

    @Test func theDryRunNamesKeptFilesByPatternAndTheRestorePrintsTheRealNames() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        try RestoreInPlaceTests.leaveWalBehind(ws.source)

        let dry = try ws.run(["restore", "latest", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("keeps \(ws.source) ") && dry.stdout.contains("as \(ws.source).pre-restore-<TIME>\n"),
                "the dry run does not name the kept file by pattern: \(dry.stdout)")
        #expect(dry.stdout.contains("as \(ws.source).pre-restore-<TIME>-wal"), "\(dry.stdout)")
        #expect(dry.stdout.contains("<TIME> is the time of the real restore"), "\(dry.stdout)")
        let json = try ws.run(["restore", "latest", "--dry-run", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let steps = try #require((object["plan"] as? [String: Any])?["steps"] as? [[String: Any]])
        let kept = (steps.first?["keeps"] as? [[String: Any]] ?? []).compactMap { $0["keptAs"] as? String }
        #expect(kept.contains(ws.source + ".pre-restore-<TIME>"), "\(kept)")

        let real = try ws.run(["restore", "latest", "--yes"])
        #expect(real.status == 0, "\(real.stderr)")
        let names = try Self.directoryNames(ws).filter { $0.hasPrefix("backend.sqlite.pre-restore-") }
        let base = try #require(names.first { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }, "\(names)")
        #expect(base.range(of: #"^backend\.sqlite\.pre-restore-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z$"#, options: .regularExpression) != nil, "\(base)")
        #expect(real.stdout.contains(ws.dir.file(base)), "the restore does not print the kept name: \(real.stdout)")
        #expect(!real.stdout.contains("<TIME>"), "\(real.stdout)")
    }

    @Test func anInPlaceRestoreNamesTheDataLossWindow() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let startedAt = try #require(try ws.manifestJSON(id)["startedAt"] as? String)
        try RestoreInPlaceTests.leaveWalBehind(ws.source)

        let text = try ws.run(["restore", id, "--yes"])
        #expect(text.status == 0, "\(text.stderr)")
        let kept = try #require(try Self.directoryNames(ws).first { $0.hasPrefix("backend.sqlite.pre-restore-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") })
        let tail = text.stdout.split(separator: "\n").suffix(3).joined(separator: "\n")
        #expect(tail.contains("writes made after the snapshot started (\(startedAt))"), "\(text.stdout)")
        #expect(tail.contains(ws.dir.file(kept)), "\(text.stdout)")
        #expect(tail.contains("RUNBOOK"), "\(text.stdout)")

        let json = try ws.run(["restore", id, "--yes", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let window = try #require(object["writesAfterSnapshot"] as? [String: Any], "no writesAfterSnapshot in \(json.stdout)")
        #expect(window["since"] as? String == startedAt)
        let onlyIn = window["onlyIn"] as? [String] ?? []
        #expect(onlyIn.contains { $0.hasPrefix(ws.source + ".pre-restore-") && $0 != ws.dir.file(kept) }, "\(onlyIn)")
    }

    /// Two SQLite sources; the second one's swap fails after the first one's succeeded (a file
    /// appears at the second one's kept name): the first swap is undone, nothing changed.
    @Test func aSwapThatFailsAfterAnotherSucceededUndoesItSoNothingChanged() throws {
        let (ws, _) = try Self.twoSourcesWithWalOnlyRows()
        var before = try ws.archiveState()
        before.entries["archive/intents"] = nil

        let restore = try Background(["restore", "latest", "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "sqlite-swap-done"])
        #expect(restore.waitUntilPaused())
        // The first source is swapped; block the other one's kept name (the stamp is shared).
        let (firstBase, otherBase, stamp) = try Self.swappedFirst(ws)
        let blocker = ws.dir.file("\(otherBase).pre-restore-\(stamp)")
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: blocker))
        restore.resume()
        let r = restore.finish()

        #expect(r.status != 0, "the restore succeeded although a swap could not be made")
        #expect(r.stderr.contains("nothing was restored"), "\(r.stderr)")
        #expect(r.stderr.contains(firstBase) && r.stderr.contains("undone"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: blocker)
        var after = try ws.archiveState()
        after.entries["archive/intents"] = nil
        #expect(after == before, "an all-or-nothing restore left a change behind")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").isEmpty)
    }
    /// The undo of a finished swap killed half-way (the restored database moved aside, its WAL
    /// not yet): the next command finishes the undo under the same stamp, so the restored copy
    /// and its WAL stay a pair, and the originals are back byte for byte.
    @Test func aKillDuringTheUndoIsFinishedByTheNextCommand() throws {
        let (ws, second) = try Self.twoSourcesWithWalOnlyRows()
        let originals = try [ws.source, second].flatMap { db in try ["", "-wal", "-shm"].map { try Self.digest(db + $0) } }

        let restore = try Background(["restore", "latest", "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "sqlite-swap-done", "EHRDATA_TEST_KILL_AT": "sqlite-undo-database-aside"])
        defer { if restore.process.isRunning { restore.kill9() } }
        #expect(restore.waitUntilPaused())
        let (firstBase, otherBase, stamp) = try Self.swappedFirst(ws)
        // A service wrote into the restored copy (its WAL), and the other source's swap will fail.
        try Data("written after the swap".utf8).write(to: URL(fileURLWithPath: ws.dir.file(firstBase + "-wal")))
        let blocker = ws.dir.file("\(otherBase).pre-restore-\(stamp)")
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: blocker))
        restore.resume()
        _ = restore.finish() // killed in the undo
        #expect(!FileManager.default.fileExists(atPath: ws.dir.file(firstBase)), "the kill did not come between the renames")

        let next = try ws.run(["list"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("undid an interrupted in-place restore"), "\(next.stderr)")
        try FileManager.default.removeItem(atPath: blocker)
        let now = try [ws.source, second].flatMap { db in try ["", "-wal", "-shm"].map { try Self.digest(db + $0) } }
        #expect(now == originals, "the originals are not back byte for byte")
        let displaced = try Self.directoryNames(ws).filter { $0.contains(".displaced-") }.sorted()
        #expect(displaced.count == 2, "\(displaced)")
        #expect(displaced.count == 2 && displaced[1] == displaced[0] + "-wal", "the restored copy and its WAL were split: \(displaced)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").isEmpty)
    }

    /// A workspace with two SQLite sources, backed up, each then given rows that live only in
    /// its -wal. Returns the workspace and the second source's path.
    static func twoSourcesWithWalOnlyRows() throws -> (Workspace, String) {
        let ws = try Workspace()
        let second = ws.dir.file("second.sqlite")
        try FileManager.default.copyItem(atPath: ws.source, toPath: second)
        try ws.writeConfig(extra: "  - name: second\n    kind: sqlite\n    path: \(second)")
        _ = try ws.ok(["backup"])
        try RestoreInPlaceTests.leaveWalBehind(ws.source)
        try RestoreInPlaceTests.leaveWalBehind(second)
        return (ws, second)
    }

    /// With a restore paused after its first swap: which source was swapped, the other one, and
    /// the kept names' stamp (shared by every source of the restore).
    static func swappedFirst(_ ws: Workspace) throws -> (first: String, other: String, stamp: String) {
        let names = try directoryNames(ws)
        let firstKept = try #require(names.first { $0.contains(".sqlite.pre-restore-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }, "\(names)")
        let firstBase = String(firstKept.prefix { $0 != "." }) + ".sqlite"
        let stamp = String(firstKept.dropFirst((firstBase + ".pre-restore-").count))
        return (firstBase, firstBase == "backend.sqlite" ? "second.sqlite" : "backend.sqlite", stamp)
    }

    static func digest(_ path: String) throws -> String {
        try Run.program("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? "missing"
    }

    /// A file appears at the database's kept name while its companions are being moved aside:
    /// the rename of the database fails, and the undo puts back only what was moved. The
    /// original database stays where it is, and the file that appeared keeps its name.
    @Test func aSwapBlockedAtTheKeptNameLeavesTheOriginalAndTheIntruderWhereTheyAre() throws {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        try RestoreInPlaceTests.leaveWalBehind(ws.source)
        var before = try ws.archiveState()
        before.entries["archive/intents"] = nil

        let restore = try Background(["restore", "latest", "--yes"], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "sqlite-swap-rename-1"])
        #expect(restore.waitUntilPaused())
        // The intent record lists the moves about to be made; the database's is the last.
        let intents = try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/intents").filter { $0.hasSuffix(".json") }
        let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ws.archive + "/intents/" + intents[0]))) as? [String: Any])
        let moves = try #require((record["sqlite"] as? [String: Any])?["moves"] as? [[String: String]])
        let keptName = try #require(moves.first { $0["from"] == ws.source }?["to"])
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: keptName))
        restore.resume()
        let r = restore.finish()

        #expect(r.status != 0, "the swap succeeded although its kept name was taken")
        #expect(r.stderr.contains("was undone"), "\(r.stderr)")
        #expect(try String(contentsOfFile: keptName, encoding: .utf8) == "in the way", "the file at the kept name was moved")
        try FileManager.default.removeItem(atPath: keptName)
        var after = try ws.archiveState()
        after.entries["archive/intents"] = nil
        #expect(after == before, "the failed swap did not put everything back: \(after)")
    }
}
