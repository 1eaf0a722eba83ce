import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine
import Foundation

struct Drill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a snapshot into scratch places, check the copies, and remove them.",
        discussion: """
            A restore drill: verifies the snapshot's checksums, restores every source into a
            scratch place (a temp SQLite file in the scratch directory; a scratch database on
            the source's server, or on drill.connection's), runs the built-in checks (with
            amcheck installed in each scratch database when the server has it) and the
            config's rules against the copies, and removes every copy, also when a step fails.
            A drill that was killed leaves copies the next drill removes. Steps are reported
            with their times; the result is stored in the archive for status and metrics.

            Examples:
              ehrdata drill
              ehrdata drill 20261129T0936 --scratch-dir /srv/scratch
              ehrdata drill --json

            Exit status: 0 restored and consistent, 81 an inconsistency was found in the
            copies, 82 a check could not run, 65 the snapshot does not verify or its data is
            damaged, 1 a restore failed, 66 no such snapshot, 75 locked, 78 configuration.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest' (default: latest).")
    var snapshot: String?

    @Option(help: "Where the scratch SQLite copies go (default: drill.scratch_dir, else $TMPDIR or /tmp).", completion: .directory)
    var scratchDir: String?

    func run() throws {
        let logger = global.makeLogger("drill")
        let progress = ProgressDisplay()
        defer { progress.stop() }
        var results: [CheckResult] = []
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            let archive = try Archive.open(at: config.archive)
            let report = try DrillEngine(archive: archive, configuration: config, logger: logger, lockWait: try lock.seconds)
                .run(snapshot: SnapshotSelector(snapshot ?? "latest"), scratchDirectory: scratchDir)
            results = report.results
            return report
        }) { report in
            let steps = Output.table(["STEP", "SOURCE", "OK", "SECONDS"], report.steps.map { s in
                [s.name, s.source ?? "", s.ok ? "ok" : "FAILED", String(format: "%.2f", s.seconds)]
            })
            return "drill of snapshot \(report.snapshot)\n\(steps)\n\n\(CheckText.table(report.results))"
        }
        if let failure = CheckText.failure(results, what: "drill") { try Output.fail(failure, json: global.json) }
    }
}
