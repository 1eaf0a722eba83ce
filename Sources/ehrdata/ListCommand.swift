import ArgumentParser
import EHRArchive
import EHRCore
import EHREngine

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List snapshots, newest first.",
        discussion: """
            Shows each snapshot's id, start time (UTC), sources and sizes, and its verify
            verdict with the depth it was reached at: "ok (deep)", "ok (checksums)",
            "FAILED (deep)" (a later checksums pass never hides a deep failure). A source the
            backup found damaged itself is marked "(source damaged)". A snapshot under a
            legal hold ('ehrdata hold') shows its reason under HOLD. Unfinished backups, and
            snapshots a prune has begun to remove, are never listed.

            Examples:
              ehrdata list
              ehrdata list --json | jq -r '.[0].id'

            Exit status: 0 listed, 66 no archive, 75 locked, 76 archive too new, 78
            configuration error.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    func run() throws {
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            var engine = ListEngine(archive: try Archive.open(at: config.archive), logger: global.makeLogger("list"),
                                    lockWait: try lock.seconds)
            engine.sqlitePaths = config.sqlitePaths
            return try engine.run()
        }) { entries in
            if entries.isEmpty { return "no snapshots yet; run 'ehrdata backup'" }
            return Output.table(["SNAPSHOT", "STARTED (UTC)", "SOURCES", "SIZE", "COMPRESSED", "VERIFIED", "HOLD"], entries.map { e in
                [e.id, e.startedAt ?? "?",
                 e.problem == nil ? e.sources.map { $0.sourceDamaged ? "\($0.name) (source damaged)" : $0.name }.joined(separator: ",")
                                  : (e.unsupportedFormat == true ? "NEWER FORMAT" : "DAMAGED"),
                 ByteFormat.human(e.uncompressedSize), ByteFormat.human(e.compressedSize),
                 e.lastVerify.map { "\($0.verdict) \($0.verifiedAt)" } ?? "never",
                 e.hold.map { "held: \($0.reason)" } ?? "-"]
            })
        }
    }
}
