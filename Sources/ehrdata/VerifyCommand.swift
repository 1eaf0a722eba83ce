import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check snapshots against their checksums, from the archive alone.",
        discussion: """
            Default depth (checksums): the manifest against manifest.sha256, that the
            snapshot holds exactly the files its manifest lists, and every file's size and
            SHA-256. --deep also decompresses every file, checks the uncompressed SHA-256
            and size, and runs SQLite's integrity_check on each database copy in a temp
            directory. The result is recorded beside the snapshot and shown by 'list'.
            With no snapshot, verifies the latest.

            Examples:
              ehrdata verify
              ehrdata verify 20261129T0936 --deep
              ehrdata verify --all --json

            On a read-only archive the verdict is printed and the exit status is the same,
            with a warning that nothing was recorded.

            Exit status: 0 all good, 65 a snapshot failed (the file is named), 66 no such
            snapshot, 75 locked (only while a prune runs), 76 a snapshot is of a format
            (manifest version, codec, encryption) this ehrdata does not read.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest' (default: latest).")
    var snapshot: String?

    @Flag(help: "Verify every snapshot.")
    var all = false

    @Flag(help: "Also decompress everything and run integrity_check on each database.")
    var deep = false

    @Option(help: "Where --deep puts its temporary database copies (default: $TMPDIR or /tmp).", completion: .directory)
    var scratchDir: String?

    func validate() throws {
        if all && snapshot != nil { throw ValidationError("give a snapshot or --all, not both") }
    }

    func run() throws {
        let logger = global.makeLogger("verify")
        let progress = ProgressDisplay()
        defer { progress.stop() }
        var reports: [VerifyEngine.Report] = []
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            let archive = try Archive.open(at: config.archive)
            let ids = all ? try archive.snapshotIDs(ignored: { Warnings.notASnapshot($0, logger) })
                          : [try archive.resolve(SnapshotSelector(snapshot ?? "latest"))]
            var engine = VerifyEngine(archive: archive, logger: logger, lockWait: try lock.seconds)
            if let scratchDir { engine.scratchDirectory = scratchDir }
            engine.sqlitePaths = config.sqlitePaths
            engine.configuration = config
            reports = try engine.run(ids, depth: deep ? .deep : .checksums)
            return reports
        }) { reports in
            reports.map { r in
                r.ok ? "\(r.id): ok (\(r.depth.rawValue); \(r.filesChecked) file\(r.filesChecked == 1 ? "" : "s"), \(ByteFormat.human(r.bytesChecked)))"
                    + (r.verdict.map { $0.hasPrefix("FAILED") ? "; its verdict stays \($0): run 'verify --deep' again to clear it" : "" } ?? "")
                     : "\(r.id): \(r.unsupportedFormat ? "UNSUPPORTED FORMAT" : "FAILED")\n" + r.problems.map { "  - \($0)" }.joined(separator: "\n")
            }.joined(separator: "\n")
        }
        // Damage (65) outranks a format this ehrdata cannot read (76): the first needs a person.
        let damaged = reports.filter { !$0.ok && !$0.unsupportedFormat }
        if let first = damaged.first {
            let what = damaged.count == 1 ? "snapshot \(first.id) failed verification" : "\(damaged.count) snapshots failed verification; first: \(first.id)"
            try Output.fail(EHRError(.verificationFailed, "\(what): \(first.problems.first ?? "")",
                                     hint: "restore from a snapshot that verifies"), json: global.json)
        }
        if let first = reports.first(where: { !$0.ok }) {
            try Output.fail(EHRError(.unsupportedFormat, "snapshot \(first.id) cannot be verified by this ehrdata: \(first.problems.first ?? "")",
                                     hint: "upgrade ehrdata; nothing was changed"), json: global.json)
        }
    }
}
