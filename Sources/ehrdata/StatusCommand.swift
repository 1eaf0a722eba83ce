import ArgumentParser
import EHRCore
import EHREngine
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the archive's health: last good backup per source, verifies, holds, space.",
        discussion: """
            Per source: the last good backup (the newest snapshot holding the source
            undamaged: its age, size and duration), whether the last backup run succeeded,
            the last verify and the holds. Then the archive's size, the free space on its
            filesystem, and how many more nights that holds at the last week's growth.
            (The last check and drill results are reserved fields, null until those
            commands exist.) Reads the archive only; a running backup does not block it.

            With --max-age, exits 83 when a configured source's last good backup is older
            than that, or there is none: for monitoring and cron. With --json the report
            then names them in "staleSources".

            Examples:
              ehrdata status
              ehrdata status --max-age 26h
              ehrdata status --json | jq '.sources[] | {name, age: .lastGood.ageSeconds}'

            Exit status: 0 shown (and fresh enough), 1 failure, 64 usage, 66 no archive,
            75 a prune holds the archive, 76 archive too new, 78 configuration error, 83 a
            source's last good backup is older than --max-age or missing.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Option(help: "Exit 83 if any source's last good backup is older than this (e.g. 26h, 2d).")
    var maxAge: String?

    func validate() throws {
        if let maxAge, DurationText.seconds(maxAge) == nil {
            throw ValidationError("--max-age takes a duration such as 26h or 2d, not '\(maxAge)'")
        }
    }

    func run() throws {
        var health: ArchiveHealth?
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            health = try StatusEngine(configuration: config, logger: global.makeLogger("status"), lockWait: try lock.seconds)
                .run(maxAge: maxAge.flatMap(DurationText.seconds))
            return health!
        }) { h in StatusText.render(h) }
        if let maxAge, let health, let seconds = DurationText.seconds(maxAge) {
            let stale = StatusEngine.stale(health, maxAge: seconds)
            if let first = stale.first {
                let what = first.lastGood.map { "is \(StatusText.age($0.ageSeconds)) old, more than --max-age \(maxAge)" } ?? "does not exist"
                let others = stale.dropFirst().map { "'\($0.name)'" }
                try Output.fail(EHRError(.staleBackup, "the last good backup of source '\(first.name)' \(what)"
                                             + (others.isEmpty ? "" : " (also stale: \(others.joined(separator: ", ")))"),
                                         hint: "check that backups run (cron, 'ehrdata backup' exit status, its log)"),
                                json: global.json)
            }
        }
    }
}

enum StatusText {
    static func age(_ seconds: Double) -> String {
        if seconds < 120 { return "\(Int(seconds.rounded()))s" }
        if seconds < 7200 { return "\(Int((seconds / 60).rounded()))m" }
        if seconds < 172_800 { return "\(Int((seconds / 3600).rounded()))h" }
        return "\(Int((seconds / 86_400).rounded()))d"
    }

    static func render(_ h: ArchiveHealth) -> String {
        var lines: [String] = []
        for s in h.sources {
            lines.append("source \(s.name)\(s.configured ? "" : " (not in the config)")")
            if let g = s.lastGood {
                lines.append("  last good backup: \(g.snapshot), \(age(g.ageSeconds)) ago, \(ByteFormat.human(g.uncompressedSize)) -> \(ByteFormat.human(g.compressedSize)), took \(String(format: "%.1f", g.durationSeconds))s")
            } else {
                lines.append("  last good backup: none")
            }
            if let run = s.lastRun {
                lines.append("  last backup run: \(run.ok ? "ok" : "FAILED") at \(run.finishedAt)")
            }
            lines.append("  last verify: " + (s.lastVerify.map { "\($0.verdict) at \($0.verifiedAt) (\($0.snapshot))" } ?? "never"))
            for hold in s.holds { lines.append("  held: \(hold.snapshot): \(hold.summary)") }
        }
        lines.append("archive: \(h.snapshots) snapshot\(h.snapshots == 1 ? "" : "s"), \(ByteFormat.human(h.archiveBytes))"
            + (h.holds.isEmpty ? "" : ", \(h.holds.count) held"))
        if let free = h.freeBytes {
            var line = "free space: \(ByteFormat.human(free))"
            if let growth = h.dailyGrowthBytes, let nights = h.nightsLeft {
                line += nights == Int64.max ? "" : ", about \(nights) more nights at \(ByteFormat.human(growth)) a day"
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the archive's metrics in the Prometheus text format.",
        discussion: """
            The same text that every command changing or checking the archive (backup,
            verify, prune, hold, release) writes to 'metrics.textfile' when the config
            names one (node_exporter's textfile collector): last success time, success,
            duration and sizes of each source's backup, snapshot count, archive size, last
            successful verify. The output is always that text format ('status --json'
            has the same figures as JSON).

            Examples:
              ehrdata metrics
              ehrdata metrics > /var/lib/prometheus/node-exporter/ehrdata.prom.tmp

            Exit status: 0 printed, 1 failure, 64 usage, 66 no archive, 75 a prune holds
            the archive, 76 archive too new, 78 configuration error.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    func run() throws {
        try Output.run(json: false, {
            let config = try global.loadConfiguration()
            return MetricsFile.render(try StatusEngine(configuration: config, logger: global.makeLogger("metrics"),
                                                       lockWait: try lock.seconds).run())
        }) { text in String(text.dropLast(text.hasSuffix("\n") ? 1 : 0)) }
    }
}
