import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a source from a snapshot to a new file.",
        discussion: """
            Writes the copy to a temp file beside PATH, checks its SHA-256 and SQLite's
            integrity_check, fsyncs it and renames it to PATH. PATH must not exist: restore never
            overwrites anything.

            Examples:
              ehrdata restore latest --to /srv/restore/backend.sqlite
              ehrdata restore 20261129T0936 --source backend --to ./backend.sqlite

            Exit status: 0 restored, 64 the snapshot has several sources and no --source was given,
            65 the snapshot's data is damaged, 66 no such snapshot or source, 73 PATH exists.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest'.")
    var snapshot: String

    @Option(help: "Which source of the snapshot (needed when it holds several).")
    var source: String?

    @Option(help: "Where to write the restored database; must not exist.", completion: .file())
    var to: String

    func run() throws {
        let logger = global.makeLogger("restore")
        try Output.run(json: global.json, {
            let archive = try Archive.open(at: try global.loadConfiguration().archive)
            return try RestoreEngine(archive: archive, logger: logger)
                .restore(SnapshotSelector(snapshot), source: source, to: to)
        }) { r in
            "restored \(r.source) from \(r.snapshot) to \(r.path) (\(ByteFormat.human(r.bytes)), SHA-256 and integrity_check ok)"
        }
    }
}
