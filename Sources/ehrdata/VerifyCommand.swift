import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check snapshots against their checksums, from the archive alone.",
        discussion: """
            Checks the manifest against manifest.sha256, that the snapshot holds exactly the files
            its manifest lists, and every file's size and SHA-256. Records the result beside the
            snapshot (shown by 'list'). With no snapshot, verifies the latest.

            Examples:
              ehrdata verify
              ehrdata verify 20261129T0936
              ehrdata verify --all --json

            Exit status: 0 all good, 65 a snapshot failed (the file is named), 66 no such snapshot.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest' (default: latest).")
    var snapshot: String?

    @Flag(help: "Verify every snapshot.")
    var all = false

    func validate() throws {
        if all && snapshot != nil { throw ValidationError("give a snapshot or --all, not both") }
    }

    func run() throws {
        let logger = global.makeLogger("verify")
        var reports: [VerifyEngine.Report] = []
        try Output.run(json: global.json, {
            let archive = try Archive.open(at: try global.loadConfiguration().archive)
            let ids = all ? try archive.snapshotIDs() : [try archive.resolve(SnapshotSelector(snapshot ?? "latest"))]
            reports = try VerifyEngine(archive: archive, logger: logger).run(ids)
            return reports
        }) { reports in
            reports.map { r in
                r.ok ? "\(r.id): ok (\(r.filesChecked) files, \(ByteFormat.human(r.bytesChecked)))"
                     : "\(r.id): FAILED\n" + r.problems.map { "  - \($0)" }.joined(separator: "\n")
            }.joined(separator: "\n")
        }
        let failed = reports.filter { !$0.ok }
        if let first = failed.first {
            try Output.fail(EHRError(.verificationFailed,
                                     "\(failed.count) snapshot(s) failed verification; first: \(first.id): \(first.problems.first ?? "")",
                                     hint: "restore from a snapshot that verifies"), json: global.json)
        }
    }
}
