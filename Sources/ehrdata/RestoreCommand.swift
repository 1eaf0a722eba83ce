import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine
import Foundation

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore sources from a snapshot, in place or to a new file.",
        discussion: """
            In place (no --to): every source of the snapshot (or those named by --source) goes back
            to where the config says it lives. The copy is written beside the database, verified
            (SHA-256 and integrity_check), and only then is the current database, with its -wal and
            -shm, renamed to <name>.pre-restore-<time> and the copy renamed into place. Nothing is
            deleted. A database another process has open is refused unless --force. On a terminal
            the plan is shown and must be confirmed; scripts pass --yes. --dry-run only shows it.

            With --to PATH: one source to a new file; PATH must not exist.

            Examples:
              ehrdata restore latest --dry-run
              ehrdata restore latest --source backend
              ehrdata restore 20261129T0936 --source backend --to /srv/restore/backend.sqlite
              ehrdata restore latest --yes --json

            Exit status: 0 restored (or dry run shown), 1 cancelled or failed (nothing changed),
            64 usage (several sources with --to, or in place with no terminal and no --yes),
            65 the snapshot's data is damaged, 66 no such snapshot or source, 73 --to PATH exists,
            75 the database is open in another process, or another writer holds the archive.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest'.")
    var snapshot: String

    @Option(name: .customLong("source"), help: "Restore only this source (repeatable).")
    var sources: [String] = []

    @Option(help: "Write to this new file instead of in place; must not exist.", completion: .file())
    var to: String?

    @Flag(help: "Do not ask for confirmation (for scripts).")
    var yes = false

    @Flag(help: "Show the plan and change nothing.")
    var dryRun = false

    @Flag(help: "Restore in place even if another process has the database open (its later writes are lost).")
    var force = false

    func run() throws {
        let logger = global.makeLogger("restore")
        var declined = false
        var shown: RestoreEngine.Plan?
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            let archive = try Archive.open(at: config.archive)
            let destination: RestoreEngine.Destination = to.map { .newFile($0) }
                ?? .inPlace(currentPaths: Dictionary(config.sources.compactMap { s in s.path.map { (s.name, $0) } },
                                                     uniquingKeysWith: { a, _ in a }))
            let request = RestoreEngine.Request(snapshot: SnapshotSelector(snapshot), sources: sources,
                                                destination: destination, force: force)
            let result = try RestoreEngine(archive: archive, logger: logger, lockWait: try lock.seconds)
                .run(request) { plan in
                    shown = plan
                    return try confirm(plan)
                }
            if result == nil { declined = !dryRun }
            // A dry run (or a cancel) reports the plan with nothing restored.
            return result ?? RestoreEngine.Result(plan: shown!, restored: [])
        }) { result in
            if dryRun { return PlanText.render(result.plan, force: force) }
            return result.restored.map { r in
                "restored \(r.source) from \(result.plan.snapshot) to \(r.path) (\(ByteFormat.human(r.bytes)), SHA-256 and integrity_check ok)"
            }.joined(separator: "\n") + keptSummary(result.plan)
        }
        if declined {
            try Output.fail(EHRError(.failure, "restore cancelled; nothing was changed", hint: nil), json: global.json)
        }
    }

    /// Shows the plan when a person must see it, and decides whether to go on.
    private func confirm(_ plan: RestoreEngine.Plan) throws -> Bool {
        if dryRun { return false }
        guard plan.inPlace, !yes else { return true }
        guard isatty(STDIN_FILENO) == 1 else {
            throw EHRError(.usage, "restoring in place replaces live databases and needs confirmation",
                           hint: "run it from a terminal, or pass --yes (see the plan with --dry-run)")
        }
        print(PlanText.render(plan, force: force))
        print("Restore in place now? Type 'yes' to continue: ", terminator: "")
        return readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
    }

    private func keptSummary(_ plan: RestoreEngine.Plan) -> String {
        let kept = plan.steps.flatMap(\.keeps)
        guard !kept.isEmpty else { return "" }
        return "\nkept the replaced files:\n" + kept.map { "  \($0.keptAs)" }.joined(separator: "\n")
    }
}

enum PlanText {
    static func render(_ plan: RestoreEngine.Plan, force: Bool) -> String {
        var lines = ["Restore plan for snapshot \(plan.snapshot) (\(plan.inPlace ? "in place" : "to a new file")):"]
        for step in plan.steps {
            lines.append("  \(step.source) -> \(step.target) (\(ByteFormat.human(step.restoredBytes)), verified before any rename)")
            for kept in step.keeps {
                lines.append("    keeps \(kept.path) (\(ByteFormat.human(kept.bytes))) as \(kept.keptAs)")
            }
            if plan.inPlace && step.keeps.isEmpty { lines.append("    nothing there now; the copy is simply put in place") }
            if !step.inUseBy.isEmpty {
                lines.append("    IN USE by \(step.inUseBy.joined(separator: ", ")): "
                    + (force ? "--force given, its later writes will be lost" : "refused unless --force"))
            }
        }
        lines.append("Nothing is deleted.")
        return lines.joined(separator: "\n")
    }
}
