import EHRTestSupport
import Foundation
import Testing

/// The unattended setup as shipped: the cron file's own command lines run as cron runs them (a
/// bare environment plus the variables the file sets), the systemd units and the logrotate file
/// checked by their tools, the installer idempotent and undone by --uninstall; JSON log lines with
/// the run id; progress on a terminal only; the on_failure command.
@Suite struct OperationsTests {
    /// The cron file: its variable lines and its job lines (time fields and user stripped).
    static func cronFile() throws -> (variables: [String: String], jobs: [String]) {
        let text = try String(contentsOfFile: Repository.root + "/cron/ehrdata", encoding: .utf8)
        var variables: [String: String] = [:], jobs: [String] = []
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") && !line.isEmpty {
            if let eq = line.firstIndex(of: "="), !line[..<eq].contains(" ") {
                variables[String(line[..<eq])] = String(line[line.index(after: eq)...])
            } else {
                let fields = line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: true)
                try #require(fields.count == 7 && fields[5] == "root", "not a cron.d job line: \(line)")
                jobs.append(String(fields[6]))
            }
        }
        return (variables, jobs)
    }

    /// Runs a cron job line as cron would: `/bin/sh -c LINE` under `env -i` and the file's
    /// variables, with the binary, the config and the log pointed at the test's.
    static func runAsCron(_ line: String, variables: [String: String], config: String, log: String) throws -> ProcessResult {
        let command = line.replacingOccurrences(of: "/usr/local/bin/ehrdata", with: Run.binary)
            .replacingOccurrences(of: "/var/log/ehrdata/ehrdata.log", with: log)
        var env = variables
        env["EHRDATA_CONFIG"] = config
        return try Run.program("/usr/bin/env", ["-i"] + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + ["/bin/sh", "-c", command])
    }

    @Test func theNightlyCronLineBacksUpPrunesAndVerifies() throws {
        let (variables, jobs) = try Self.cronFile()
        #expect(variables["PATH"] != nil && variables["EHRDATA_CONFIG"] == "/etc/ehrdata/ehrdata.yaml" && variables["EHRDATA_LOG_FORMAT"] == "json")
        try #require(jobs.count == 2, "jobs: \(jobs)")
        let nightly = jobs[0]
        #expect(nightly.contains("backup") && nightly.contains("prune") && nightly.contains("verify latest"))
        #expect(jobs[1].contains(" drill"))

        let w = try Workspace()
        let hook = w.dir.file("hook.txt")
        try w.writeConfig(extra: """
            retention:
              keep_last: 1
            on_failure:
              command: [/bin/sh, -c, 'echo "$EHRDATA_COMMAND $EHRDATA_EXIT_CODE $EHRDATA_RUN_ID" >> \(hook)']
            """)
        let log = w.dir.file("ehrdata.log")
        for night in 1...2 {
            let r = try Self.runAsCron(nightly, variables: variables, config: w.config, log: log)
            let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(800) ?? ""
            #expect(r.status == 0, "night \(night): exit \(r.status): \(tail)")
        }
        // Two backups, keep_last 1: one snapshot left, verified.
        let ids = try w.snapshotIDs()
        #expect(ids.count == 1, "snapshots after two nights with keep_last 1: \(ids)")
        #expect(FileManager.default.fileExists(atPath: w.snapshotDirectory(ids.first ?? "none") + "/verify.json"))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["run"] is String && object?["time"] is String && object?["level"] is String, "log line: \(line)")
        }
        #expect(!FileManager.default.fileExists(atPath: hook), "on_failure ran on a good night")

        // A source gone: the line fails with backup's status, the alert runs, nothing is pruned.
        try FileManager.default.removeItem(atPath: w.source)
        let bad = try Self.runAsCron(nightly, variables: variables, config: w.config, log: log)
        #expect(bad.status == 66, "exit \(bad.status)")
        #expect(try w.snapshotIDs() == ids)
        let alert = (try? String(contentsOfFile: hook, encoding: .utf8)) ?? ""
        #expect(alert.hasPrefix("backup 66 "), "the on_failure command's record: \(alert)")
    }

    @Test func theSystemdUnitsAndTheLogrotateFileCheckOut() throws {
        let dir = TempDirectory("ehrdata-units")
        for unit in ["ehrdata-backup.service", "ehrdata-backup.timer", "ehrdata-drill.service", "ehrdata-drill.timer"] {
            let text = try String(contentsOfFile: Repository.root + "/cron/" + unit, encoding: .utf8)
            if unit.hasSuffix(".timer") { #expect(text.contains("Persistent=true"), "\(unit)") }
            // The binary is not installed here: the units are checked against the built one.
            try text.replacingOccurrences(of: "/usr/local/bin/ehrdata", with: Run.binary).write(toFile: dir.file(unit), atomically: true, encoding: .utf8)
        }
        for unit in ["ehrdata-backup.service", "ehrdata-backup.timer", "ehrdata-drill.service", "ehrdata-drill.timer"] {
            let r = try Run.program("/usr/bin/systemd-analyze", ["verify", "--man=no", dir.file(unit)])
            #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "\(unit): \(r.status) \(r.stdout) \(r.stderr)")
        }
        let logrotate = try Run.program("/usr/sbin/logrotate", ["-d", "-s", dir.file("state"), Repository.root + "/cron/ehrdata.logrotate"])
        #expect(logrotate.status == 0 && !logrotate.stderr.lowercased().contains("error"), "\(logrotate.status) \(logrotate.stderr)")
    }

    /// Every file below `root`, with its mode and content digest.
    static func tree(_ root: String) throws -> [String] {
        let r = try Run.program("/bin/sh", ["-c", "cd '\(root)' && find . -printf '%p %m %y\\n' | sort && find . -type f -exec sha256sum {} + | sort"])
        return r.stdout.split(separator: "\n").map(String.init)
    }

    @Test func theInstallerIsIdempotentAndUninstallsWhatItInstalled() throws {
        let root = TempDirectory("ehrdata-install")
        let script = Repository.root + "/scripts/install-cron.sh"
        try FileManager.default.createDirectory(atPath: root.file("etc/cron.d"), withIntermediateDirectories: true)
        try "keep me\n".write(toFile: root.file("etc/cron.d/other"), atomically: true, encoding: .utf8)
        let before = try Self.tree(root.path)
        for systemd in [false, true] {
            let args = [script, "--root", root.path, "--binary", Run.binary] + (systemd ? ["--systemd"] : [])
            let first = try Run.program("/bin/bash", args)
            #expect(first.status == 0, "\(first.stderr)")
            let installed = try Self.tree(root.path)
            let second = try Run.program("/bin/bash", args)
            #expect(second.status == 0 && !second.stdout.contains("wrote"), "a second run wrote: \(second.stdout)")
            #expect(try Self.tree(root.path) == installed, "the second run changed files")
            #expect(FileManager.default.fileExists(atPath: root.file(systemd ? "etc/systemd/system/ehrdata-backup.timer" : "etc/cron.d/ehrdata")))
            let config = try FileManager.default.attributesOfItem(atPath: root.file("etc/ehrdata/ehrdata.yaml"))
            #expect((config[.posixPermissions] as? Int) == 0o600)
            let uninstall = try Run.program("/bin/bash", [script, "--root", root.path, "--uninstall"])
            #expect(uninstall.status == 0, "\(uninstall.stderr)")
            #expect(try Self.tree(root.path) == before, "--uninstall left the tree different from before")
        }
        // A config the installer did not write stays.
        try FileManager.default.createDirectory(atPath: root.file("etc/ehrdata"), withIntermediateDirectories: true)
        try "archive: /x\n".write(toFile: root.file("etc/ehrdata/ehrdata.yaml"), atomically: true, encoding: .utf8)
        #expect(try Run.program("/bin/bash", [script, "--root", root.path, "--binary", Run.binary]).status == 0)
        #expect(try Run.program("/bin/bash", [script, "--root", root.path, "--uninstall"]).status == 0)
        #expect(try String(contentsOfFile: root.file("etc/ehrdata/ehrdata.yaml"), encoding: .utf8) == "archive: /x\n")
    }

    @Test func jsonLogLinesCarryTheRunIDOfTheManifest() throws {
        let w = try Workspace()
        let r = try w.run(["backup", "--log-format", "json", "--log-level", "info"])
        #expect(r.status == 0, "\(r.stderr)")
        let id = try #require(try w.snapshotIDs().first)
        let runID = try #require(try w.manifestJSON(id)["runID"] as? String)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count >= 2)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            #expect(object["run"] as? String == runID)
            #expect(object["message"] is String && object["level"] as? String == "info")
        }
        // EHRDATA_RUN_ID sets it; the text format carries it too.
        let text = try w.run(["backup", "--log-level", "info"], environment: ["EHRDATA_RUN_ID": "nightly-42"])
        #expect(text.status == 0 && text.stderr.contains("run=nightly-42"), "\(text.stderr)")
        #expect(try w.run(["list"], environment: ["EHRDATA_LOG_FORMAT": "yaml"]).status == 64)
    }

    /// Progress on stderr only on a terminal (or with --progress), never when piped. The backup
    /// pauses (test hook) after its first bytes, long enough for the line to be drawn.
    @Test(arguments: [("terminal", true), ("pipe", false), ("pipe --progress", true)])
    func progressOnATerminalOnly(mode: String, shown: Bool) throws {
        let w = try Workspace()
        let hooks = TempDirectory("ehrdata-progress")
        let out = w.dir.file("out.txt")
        var command = "'\(Run.binary)' backup --config '\(w.config)'" + (mode.hasSuffix("--progress") ? " --progress" : "")
        command += " > '\(out)' 2>&1"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mode == "terminal" ? "/usr/bin/script" : "/bin/sh")
        process.arguments = mode == "terminal" ? ["-qec", command.replacingOccurrences(of: " > '\(out)' 2>&1", with: ""), out] : ["-c", command]
        var env = ProcessInfo.processInfo.environment
        env["EHRDATA_TEST_PAUSE_AFTER_BYTES"] = "1"
        env["EHRDATA_TEST_HOOK_DIR"] = hooks.path
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let paused = eventually { FileManager.default.fileExists(atPath: hooks.file("paused")) }
        try #require(paused, "the backup did not pause")
        // Three redraw periods while paused: a line that is drawn at all is drawn by then.
        usleep(1_600_000)
        FileManager.default.createFile(atPath: hooks.file("resume"), contents: Data())
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(output.contains("backup backend: ") == shown, "\(mode): \(output)")
        #expect(try w.snapshotIDs().count == 1)
    }

    @Test func anAlertThatFailsOrHangsDoesNotChangeTheExitCode() throws {
        let w = try Workspace()
        for command in ["[/bin/false]", "[/bin/sleep, '30']"] {
            try w.writeConfig(extra: "on_failure:\n  command: \(command)\n  timeout: 1s")
            let r = try w.run(["restore", "nosuchsnapshot", "--to", w.dir.file("x.sqlite")])
            #expect(r.status == 66, "\(command): \(r.status)")
            #expect(r.stderr.contains("on_failure command"), "\(r.stderr)")
        }
        try w.writeConfig(extra: "on_failure:\n  command: [notify]")
        let relative = try w.run(["list"])
        #expect(relative.status == 78 && relative.stderr.contains("absolute path"), "\(relative.stderr)")
    }
}
