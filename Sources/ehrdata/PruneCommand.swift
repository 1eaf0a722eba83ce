import ArgumentParser
import EHRCore
import EHREngine

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the snapshots the retention policy does not keep.",
        discussion: """
            Applies the config's 'retention' rules exactly as restic's 'forget' does:
            snapshots newest first (per set of sources); keep_within keeps every snapshot
            started within that long of the newest; then keep_last, keep_hourly,
            keep_daily, keep_weekly, keep_monthly and keep_yearly each keep the newest
            snapshot of every new hour, day, ISO week, month or year (in
            retention.time_zone, default the host's) until their count is used up. A
            snapshot kept by any rule stays. Always kept: held snapshots ('ehrdata
            hold'), snapshots whose manifest cannot be read, the newest snapshot of each
            source, and the newest one of each source that passed its integrity check.
            No rule, or all counts 0: nothing is removed.

            Removal is crash-safe: each snapshot is first moved out of snapshots/ (it is
            never listed again), then deleted; a prune that was interrupted is finished by
            the next one. prune waits for no one: it needs the archive to itself (no
            backup, restore, verify or list running), else it exits 75 (see --wait-lock).

            Examples:
              ehrdata prune --dry-run
              ehrdata prune --wait-lock 30m --log-level info
              ehrdata prune --dry-run --json | jq -r '.snapshots[] | select(.keep | not) | .id'

            Exit status: 0 pruned (or nothing to prune; --dry-run changes nothing), 1
            failure, 64 usage, 66 no archive, 75 another ehrdata command uses the archive,
            76 archive too new, 78 configuration error.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Flag(help: "Show what would be kept and removed, with the reasons, and change nothing.")
    var dryRun = false

    func run() throws {
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            return try PruneEngine(configuration: config, logger: global.makeLogger("prune"), lockWait: try lock.seconds)
                .run(dryRun: dryRun)
        }) { r in
            var lines: [String] = []
            for id in r.finishedFromEarlierRun { lines.append("finished removing \(id) (an interrupted prune had unpublished it)") }
            if r.policyEmpty {
                lines.append("no retention rule is set (or all are 0): nothing is removed; set 'retention' in the config")
                return lines.joined(separator: "\n")
            }
            let rules = r.policy.keys.sorted().map { "\($0) \(r.policy[$0]!)" }.joined(separator: ", ")
            lines.append("retention: \(rules) (time zone \(r.timeZone))")
            if r.snapshots.isEmpty {
                lines.append("no snapshots yet; nothing to prune")
                return lines.joined(separator: "\n")
            }
            lines.append(Output.table(["ACTION", "SNAPSHOT", "SOURCES", "REASONS"], r.snapshots.map { s in
                [s.keep ? "keep" : (r.dryRun ? "would remove" : "remove"), s.id, s.sources.joined(separator: ","),
                 s.reasons.joined(separator: "; ")]
            }))
            let kept = r.snapshots.filter(\.keep).count
            lines.append(r.dryRun
                ? "dry run: would remove \(r.snapshots.count - kept), keep \(kept); nothing was changed"
                : "removed \(r.removed.count), kept \(kept)")
            return lines.joined(separator: "\n")
        }
    }
}
