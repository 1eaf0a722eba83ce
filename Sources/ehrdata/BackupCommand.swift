import ArgumentParser
import EHRCore
import EHREngine

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Snapshot every configured source into the archive.",
        discussion: """
            Takes a consistent online copy of each source while the services keep writing
            (SQLite: a held read transaction; PostgreSQL: one exported snapshot for all
            tables, copied in parallel with --jobs), compresses and checksums it, and
            publishes all sources as one snapshot with an atomic rename. A failed or
            killed backup publishes nothing.

            Examples:
              ehrdata backup
              ehrdata backup --source backend --json

            list, verify and restore to a new target keep working while a backup runs.

            Exit status:
              0   published
              1   failed; nothing was published
              64  usage error
              66  a source, its database or the archive is missing
              75  another backup or restore holds the archive (see --wait-lock)
              76  the archive is of a newer format
              78  configuration error
              84  published, but a source is damaged (SQLite integrity_check
                  failed, or PostgreSQL tables are gone or shrank by more than
                  row_drop_warning percent since the previous snapshot)
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Option(name: .customLong("source"), help: "Back up only this source (repeatable).")
    var sources: [String] = []

    @Option(help: "Parallel COPY workers per PostgreSQL source (default: the number of cores).")
    var jobs: Int?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let logger = global.makeLogger("backup")
        let progress = ProgressDisplay()
        defer { progress.stop() }
        var published: Manifest?
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            var engine = BackupEngine(configuration: config, logger: logger, lockWait: try lock.seconds)
            if let jobs { engine.jobs = jobs }
            published = try engine.run(sourceNames: sources)
            return published!
        }) { m in
            var lines = ["snapshot \(m.snapshotID) published (\(ByteFormat.human(m.uncompressedSize)) -> \(ByteFormat.human(m.compressedSize)))"]
            for s in m.sources {
                if let info = s.sqlite {
                    let rows = info.tables.reduce(Int64(0)) { $0 + $1.rows }
                    lines.append("  \(s.name) (sqlite): \(ByteFormat.human(s.uncompressedSize)), \(info.tables.count) tables, \(rows) rows, \(info.consistency)")
                } else if let info = s.postgres {
                    let rows = info.tables.reduce(Int64(0)) { $0 + $1.rows }
                    lines.append("  \(s.name) (postgres \(info.serverVersionNum / 10000)): \(ByteFormat.human(s.uncompressedSize)), \(info.tables.count) tables, \(rows) rows, snapshot \(info.snapshot) at \(info.walLSN)")
                }
                if let check = s.sourceCheck, !check.ok {
                    lines.append("    SOURCE DAMAGED (\(check.method)): " + check.problems.prefix(3).joined(separator: "; "))
                }
            }
            return lines.joined(separator: "\n")
        }
        // Published, because it is the current state and may be all there is; but not a success.
        if let damaged = published?.sources.filter(\.sourceDamaged), let first = damaged.first {
            let names = damaged.map { "'\($0.name)'" }.joined(separator: ", ")
            try Output.fail(EHRError(.sourceDamaged,
                                     "snapshot \(published!.snapshotID) was published, but source \(names) is damaged: \(first.sourceCheck!.problems[0])",
                                     hint: "the source itself needs repair; restore from an older snapshot that 'ehrdata list' shows without 'source damaged'"),
                            json: global.json)
        }
    }
}
