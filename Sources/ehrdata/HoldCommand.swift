import ArgumentParser
import EHRCore
import EHREngine

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Put a legal hold on a snapshot: prune keeps it until it is released.",
        discussion: """
            Records who (login@host), when and why in the archive (holds/<id>.json,
            written atomically). A held snapshot is never removed by 'prune'; 'list',
            'status' and the prune decision show the hold. Holding a held snapshot again
            replaces its reason.

            Examples:
              ehrdata hold 20261129T0936 --reason 'litigation 2026-114'
              ehrdata hold latest --reason 'audit Q4' --json

            Exit status: 0 held, 1 failure, 64 usage (no or bad reason, ambiguous
            prefix), 66 no such snapshot, 75 another writer or a prune holds the archive,
            76 archive too new, 78 configuration error.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest'.")
    var snapshot: String

    @Option(help: "Why the snapshot must be kept: one line, at most 500 characters (no patient data).")
    var reason: String

    func validate() throws {
        do { _ = try HoldEngine.validate(reason: reason) } catch let e as EHRError { throw ValidationError(e.message) }
    }

    func run() throws {
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            return try HoldEngine(configuration: config, logger: global.makeLogger("hold"), lockWait: try lock.seconds)
                .hold(SnapshotSelector(snapshot), reason: reason)
        }) { r in
            "snapshot \(r.snapshot) held: \(r.hold?.summary ?? "")"
                + (r.replaced.map { "\n(replaces the earlier hold: \($0.summary))" } ?? "")
        }
    }
}

struct Release: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release a snapshot's legal hold, so that prune may remove it again.",
        discussion: """
            Removes holds/<id>.json. The snapshot stays until a prune whose rules do not
            keep it.

            Examples:
              ehrdata release 20261129T0936
              ehrdata release latest --json

            Exit status: 0 released, 1 failure, 64 usage, 66 no such snapshot or it is not
            held, 75 another writer or a prune holds the archive, 76 archive too new, 78
            configuration error.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var lock: LockOptions

    @Argument(help: "Snapshot id, unique prefix, or 'latest'.")
    var snapshot: String

    func run() throws {
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            return try HoldEngine(configuration: config, logger: global.makeLogger("release"), lockWait: try lock.seconds)
                .release(SnapshotSelector(snapshot))
        }) { r in
            "snapshot \(r.snapshot) released" + (r.hold.map { " (was held: \($0.summary))" } ?? "")
        }
    }
}
