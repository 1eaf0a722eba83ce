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
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            var engine = BackupEngine(configuration: config, logger: logger, lockWait: try lock.seconds)
            if let jobs { engine.jobs = jobs }
            return try engine.run(sourceNames: sources)
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
            }
            return lines.joined(separator: "\n")
        }
    }
}
