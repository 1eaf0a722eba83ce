import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine
import Foundation

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore sources from a snapshot: in place, to a new file, or to a new database.",
        discussion: """
            In place (no --to, no --to-database): every source of the snapshot, or those
            given with --source, goes back where the config says it lives. Each copy is
            first restored beside its target and verified; only then is anything renamed.
            SQLite: the database and its -wal/-shm/-journal become
            <file>.pre-restore-<time>… A database another process has open is refused
            unless --force. PostgreSQL: the copy is loaded into a fresh database and
            checked (row counts, content digests, sequences); then new connections to the
            original are blocked, its sessions ended, and it is renamed to
            <db>_pre_restore_<time>. Nothing is ever deleted or dropped. On a terminal the
            plan is shown and must be confirmed; scripts pass --yes. --dry-run only shows
            the plan, with <TIME> where the real restore's time goes in the kept names.

            Refused before anything: a restore that cannot go ahead (a SQLite database
            open in another process, without --force) exits 75 before the prompt and
            before writing anything, and says that nothing was restored; its dry run
            shows the plan and says it would be refused (exit 0).

            All or nothing: with several sources, every copy is loaded and verified before
            any rename; if one swap then fails, the swaps already made are undone (the
            replaced files and databases go back under their names), so no source changed.
            A kill (not a failure) between two sources' swaps leaves those already swapped
            restored and the others as they were, each whole; rerun the restore
            (docs/RUNBOOK.md, "A restore of several sources that failed").

            Writes made after the snapshot started are not in the restored data: they are
            only in the kept copies, which the output names last (--json:
            writesAfterSnapshot). Salvage them before deleting anything (docs/RUNBOOK.md).

            --to PATH: one SQLite source to a new file (PATH must not exist).
            --to-database NAME: one PostgreSQL source into a new database on its server.
            --create-roles: on a new server, first create the roles the snapshot recorded
            and the server lacks (safe attributes, no passwords; SUPERUSER, REPLICATION and
            BYPASSRLS are reported, never granted). Without it, missing roles fail the
            restore with 66 before anything is created, unless --no-owner --no-privileges.

            Examples:
              ehrdata restore latest --dry-run
              ehrdata restore latest --source backend
              ehrdata restore latest --source backend --to /srv/check/backend.sqlite
              ehrdata restore latest --source fhir --to-database fhir_drill
              ehrdata restore latest --source fhir --to-database fhir --create-roles
              ehrdata restore latest --yes --json

            Exit status:
              0   restored (or dry run shown)
              1   cancelled or failed; nothing in place was replaced
              64  usage: several sources for one target, the wrong kind of target,
                  a database name over 63 bytes, or in place without a terminal
                  and without --yes
              65  the snapshot's data is damaged
              66  no such snapshot or source; roles of the snapshot missing on the
                  server (see --create-roles)
              73  --to PATH or --to-database NAME exists and is not empty
              75  the database is open in another process, or the archive is in use
                  (nothing was restored)
              76  the snapshot is from a newer PostgreSQL, or of a newer format
              78  a PostgreSQL source is not in the config (its server is unknown)
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest'.")
    var snapshot: String

    @Option(name: .customLong("source"), help: "Restore only this source (repeatable).")
    var sources: [String] = []

    @Option(help: "Write a SQLite source to this new file instead of in place.", completion: .file())
    var to: String?

    @Option(help: "Load a PostgreSQL source into this new database instead of in place.")
    var toDatabase: String?

    @Flag(help: "Do not ask for confirmation (for scripts).")
    var yes = false

    @Flag(help: "Show the plan and change nothing.")
    var dryRun = false

    @Flag(help: "Restore a SQLite database in place even if a process has it open (its later writes are lost).")
    var force = false

    @Flag(help: "PostgreSQL: do not restore object ownership (for a server without the original roles).")
    var noOwner = false

    @Flag(help: "PostgreSQL: do not restore grants.")
    var noPrivileges = false

    @Flag(help: "PostgreSQL: create the snapshot's roles this server lacks, with their safe attributes and no passwords.")
    var createRoles = false

    @Option(help: "PostgreSQL: parallel loaders (default: the number of cores).")
    var jobs: Int?

    func validate() throws {
        if to != nil && toDatabase != nil { throw ValidationError("give --to or --to-database, not both") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let logger = global.makeLogger("restore")
        let progress = ProgressDisplay()
        defer { progress.stop() }
        var declined = false
        var shown: RestoreEngine.Plan?
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            let archive = try Archive.open(at: config.archive)
            var destination = RestoreEngine.Destination.inPlace
            if let to { destination = .newFile(to) }
            if let toDatabase { destination = .newDatabase(toDatabase) }
            var request = RestoreEngine.Request(
                snapshot: SnapshotSelector(snapshot), sources: sources, destination: destination, force: force,
                sqlitePaths: config.sqlitePaths, connections: config.connections,
                owners: !noOwner, privileges: !noPrivileges)
            if let jobs { request.jobs = jobs }
            request.createRoles = createRoles
            request.dryRun = dryRun
            let result = try RestoreEngine(archive: archive, logger: logger, lockWait: try lock.seconds)
                .run(request) { plan in
                    shown = plan
                    return try confirm(plan)
                }
            declined = result == nil
            if let result { RoleText.warn(result) }
            // A dry run (or a cancel) reports the plan with nothing restored.
            return result ?? RestoreEngine.Result(plan: shown!, restored: [])
        }) { (result: RestoreEngine.Result) -> String in
            if dryRun { return PlanText.render(result.plan, force: force) }
            if result.restored.isEmpty { return "" }
            return result.restored.map { r in
                "restored \(r.source) from \(result.plan.snapshot) to \(r.target) (\(ByteFormat.human(r.bytes)); \(r.verified))"
                    + RoleText.created(r)
            }.joined(separator: "\n") + keptSummary(result.plan) + PlanText.dataLossWindow(result)
        }
        if declined {
            try Output.fail(EHRError(.failure, "restore cancelled; nothing was changed", hint: nil), json: global.json)
        }
    }

    /// Shows the plan when a person must see it, and decides whether to go on.
    private func confirm(_ plan: RestoreEngine.Plan) throws -> Bool {
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
        return "\nkept what was replaced:\n" + kept.map { "  \($0.keptAs)" }.joined(separator: "\n")
    }
}

enum PlanText {
    static func render(_ plan: RestoreEngine.Plan, force: Bool) -> String {
        var lines = ["Restore plan for snapshot \(plan.snapshot) (\(plan.inPlace ? "in place" : "to a new target")):"]
        for step in plan.steps {
            let what = step.kind == "postgres" ? "database" : "file"
            lines.append("  \(step.source) (\(step.kind)) -> \(what) \(step.target) (\(ByteFormat.human(step.restoredBytes)), verified before any rename)")
            for kept in step.keeps {
                let size = kept.bytes > 0 ? " (\(ByteFormat.human(kept.bytes)))" : ""
                lines.append("    keeps \(kept.path)\(size) as \(kept.keptAs)")
            }
            if plan.inPlace && step.keeps.isEmpty { lines.append("    nothing there now; the copy is simply put in place") }
            if let sessions = step.sessionsToEnd {
                lines.append("    blocks new connections to \(step.target) and ends its \(sessions) open session\(sessions == 1 ? "" : "s") at the swap")
            }
            if !step.inUseBy.isEmpty {
                lines.append("    IN USE by \(step.inUseBy.joined(separator: ", ")): "
                    + (force ? "--force given, its later writes will be lost" : "refused unless --force"))
            }
        }
        if plan.keptNamesArePatterns {
            lines.append("\(RestoreEngine.timePlaceholder) is the time of the real restore (UTC, YYYYMMDDTHHMMSS.mmmZ for files, "
                + "YYYYMMDDTHHMMSS for databases); the restore prints the names it used.")
        }
        if plan.inPlace && plan.steps.count > 1 {
            lines.append("All or nothing: every copy is verified before any rename; if one swap fails, those already made are undone.")
        }
        lines.append("Nothing is deleted.")
        if let refusal = plan.refusal {
            lines.append("This restore would be refused (exit 75), nothing would be restored: \(refusal)")
        }
        return lines.joined(separator: "\n")
    }

    /// The last lines of an in-place restore: what the restored data does not hold.
    static func dataLossWindow(_ result: RestoreEngine.Result) -> String {
        guard let window = result.writesAfterSnapshot else { return "" }
        return "\nwrites made after the snapshot started (\(window.since)) are not in the restored data, only in "
            + "\(window.onlyIn.joined(separator: ", "))\nsalvage them before deleting anything: "
            + "docs/RUNBOOK.md, \"Salvage writes made after the snapshot\""
    }
}

/// What `--create-roles` did, for people: the created roles after the restored line, and one
/// warning line on stderr per attribute that was not granted.
enum RoleText {
    static func created(_ r: RestoreEngine.RestoredSource) -> String {
        guard let roles = r.createdRoles, !roles.isEmpty else { return "" }
        return "\n  created \(roles.count == 1 ? "role" : "roles") (no passwords): \(roles.joined(separator: ", "))"
    }

    static func warn(_ result: RestoreEngine.Result) {
        for r in result.restored {
            for a in r.attributesNotGranted ?? [] {
                FileHandle.standardError.write(Data(("warning: source '\(r.source)': role \(a.role) was created without "
                    + "\(a.attribute), which it had in the snapshot; grant it by hand if it needs it\n").utf8))
            }
        }
    }
}
