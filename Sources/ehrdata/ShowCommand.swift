import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a snapshot holds: tables, row counts, sizes, checks and verdicts.",
        discussion: """
            For each source: the tables with their row counts (PostgreSQL: also the
            sequences), sizes, and what the backup found about the source itself
            (SQLite integrity_check; PostgreSQL tables gone or shrunk since the previous
            snapshot). Then the verify verdict with its depth and the latest result at each
            depth. Everything comes from the archive; nothing is changed. Use it to choose
            the snapshot to restore: the newest one from before the incident that holds
            what was lost (docs/RUNBOOK.md).

            Examples:
              ehrdata show latest
              ehrdata show 20261129T0936 --json | jq '.sources[].tables'

            Exit status: 0 shown, 65 the snapshot is damaged, 66 no such snapshot, 76 of a
            newer format, 78 configuration error.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest'.")
    var snapshot: String

    func run() throws {
        let logger = global.makeLogger("show")
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            var engine = ShowEngine(archive: try Archive.open(at: config.archive), logger: logger, lockWait: try lock.seconds)
            engine.sqlitePaths = config.sqlitePaths
            return try engine.run(SnapshotSelector(snapshot))
        }, text: Self.render)
    }

    static func render(_ r: ShowEngine.Result) -> String {
        var lines = ["snapshot \(r.id)",
                     "  started \(r.startedAt), finished \(r.finishedAt), on \(r.host) by \(r.tool)",
                     "  \(ByteFormat.human(r.uncompressedSize)) (\(ByteFormat.human(r.compressedSize)) compressed)"]
        if let v = r.verify {
            let each = VerifyRecord.depths.compactMap { d in v.byDepth?[d].map { "\(d) \($0.ok ? "ok" : "FAILED") \($0.verifiedAt)" } }
            lines.append("  verified: \(v.verdict)" + (each.isEmpty ? "" : "; " + each.joined(separator: ", ")))
            lines += v.problems.prefix(5).map { "    - \($0)" }
        } else {
            lines.append("  verified: never (ehrdata verify \(r.id) --deep)")
        }
        lines.append("  holds: " + (r.holds.isEmpty ? "none (legal holds come with 'prune')" : r.holds.joined(separator: ", ")))
        for s in r.sources {
            var head = "source \(s.name) (\(s.kind)): \(ByteFormat.human(s.uncompressedSize))"
            if let q = s.sqlite { head += ", from \(q.path), journal \(q.journalMode), \(q.pageCount) pages of \(q.pageSize) bytes" }
            if let p = s.postgres { head += ", database \(p.database), PostgreSQL \(p.serverVersion), at WAL \(p.walLSN)" }
            lines += ["", head]
            switch s.sourceCheck {
            case nil: lines.append("  source check: none recorded (a snapshot from before the check)")
            case let c? where c.ok: lines.append("  source check: ok (\(c.method)\(c.against.map { " against \($0)" } ?? ""))")
            case let c?:
                lines.append("  source check: SOURCE DAMAGED (\(c.method)\(c.against.map { " against \($0)" } ?? ""))")
                lines += c.problems.map { "    - \($0)" }
            }
            let width = s.tables.map(\.name.count).max() ?? 0
            lines += s.tables.map { "  \($0.name.padding(toLength: width, withPad: " ", startingAt: 0))  " + ($0.rows.map { "\($0) rows" } ?? "rows unknown (damaged)") }
            for sequence in s.sequences ?? [] { lines.append("  sequence \(sequence.name) = \(sequence.lastValue)") }
        }
        return lines.joined(separator: "\n")
    }
}
