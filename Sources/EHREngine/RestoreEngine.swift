import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata restore`: brings sources back from a snapshot, to a new file or database, or in
/// place.
///
/// Every copy is first materialized beside its target and verified there: SQLite in a temp file
/// (SHA-256 while streaming, integrity_check, page size, user_version), PostgreSQL in a fresh
/// database (row counts, content digests, sequence values). Only when every selected source has
/// verified is anything renamed. In place, what is replaced is renamed aside
/// (`<file>.pre-restore-<time>`, `<db>_pre_restore_<time>`): nothing is ever deleted or dropped.
///
/// In place is all or nothing. A restore that would be refused (a SQLite database open in
/// another process, another restore's record on a target) is refused before anyone is asked to
/// confirm and before anything is written. The swaps come last, SQLite first (the cheapest to
/// undo), then PostgreSQL; if one fails, the swaps already made are undone, newest first.
public struct RestoreEngine {
    public let archive: Archive
    public let logger: Logger
    public var lockWait: TimeInterval

    public init(archive: Archive, logger: Logger, lockWait: TimeInterval = 0) {
        self.archive = archive
        self.logger = logger
        self.lockWait = lockWait
    }

    public enum Destination: Sendable, Equatable {
        /// One SQLite source to a new file; refuses an existing one.
        case newFile(String)
        /// One PostgreSQL source into a new (or empty) database on its server.
        case newDatabase(String)
        /// Where each source lives now, per the config.
        case inPlace
    }

    public struct Request: Sendable {
        public var snapshot: SnapshotSelector
        public var sources: [String]
        public var destination: Destination
        /// Restore in place even if another process has a SQLite database open.
        public var force: Bool
        /// SQLite paths and PostgreSQL connection strings by source name, from the config.
        public var sqlitePaths: [String: String]
        public var connections: [String: String]
        /// PostgreSQL: restore ownership and grants (pg_restore's default), parallel loaders.
        public var owners: Bool
        public var privileges: Bool
        public var jobs: Int
        /// PostgreSQL: create the snapshot's recorded roles the server lacks (no passwords).
        public var createRoles = false
        /// Only plan: the plan comes back (with a refusal, if the restore would be refused)
        /// and nothing is written.
        public var dryRun = false

        public init(snapshot: SnapshotSelector, sources: [String], destination: Destination, force: Bool = false,
                    sqlitePaths: [String: String] = [:], connections: [String: String] = [:],
                    owners: Bool = true, privileges: Bool = true,
                    jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
            self.snapshot = snapshot
            self.sources = sources
            self.destination = destination
            self.force = force
            self.sqlitePaths = sqlitePaths
            self.connections = connections
            self.owners = owners
            self.privileges = privileges
            self.jobs = max(1, jobs)
        }

        var inPlace: Bool { destination == .inPlace }
    }

    public struct Plan: Codable, Sendable {
        public var snapshot: String
        /// When the snapshot's backup started: later writes are not in it.
        public var snapshotStartedAt: String
        public var inPlace: Bool
        public var steps: [Step]
        /// Why this restore is (dry run: would be) refused with exit 75, or nil.
        public var refusal: String?
        /// Dry run: the kept names hold `<TIME>` for the real restore's time, which names them.
        public var keptNamesArePatterns = false
    }

    /// What stands for the real restore's time in a dry run's kept names.
    public static let timePlaceholder = "<TIME>"

    public struct Step: Codable, Sendable {
        public var source: String
        public var kind: String
        /// A file path (SQLite) or a database name (PostgreSQL).
        public var target: String
        public var restoredBytes: Int64
        /// What is renamed aside (never deleted), in place only.
        public var keeps: [Kept]
        /// SQLite: processes that have the target open; in place refuses them unless forced.
        public var inUseBy: [String]
        /// PostgreSQL in place: sessions on the original that the swap ends.
        public var sessionsToEnd: Int?
    }

    public struct Kept: Codable, Sendable {
        public var path: String
        public var keptAs: String
        public var bytes: Int64
    }

    public struct Result: Codable, Sendable {
        public var plan: Plan
        public var restored: [RestoredSource]
        /// In place: what was written after the snapshot started is not in the restored data,
        /// only in the kept copies (absent when nothing was kept).
        public var writesAfterSnapshot: DataLossWindow?

        public init(plan: Plan, restored: [RestoredSource], writesAfterSnapshot: DataLossWindow? = nil) {
            self.plan = plan
            self.restored = restored
            self.writesAfterSnapshot = writesAfterSnapshot
        }
    }

    public struct DataLossWindow: Codable, Sendable {
        /// The snapshot's start time (UTC).
        public var since: String
        /// The kept database files and databases that hold those writes.
        public var onlyIn: [String]
    }

    public struct RestoredSource: Codable, Sendable {
        public var source: String
        public var target: String
        public var bytes: Int64
        public var verified: String
        /// PostgreSQL: the roles this restore created (absent for SQLite).
        public var createdRoles: [String]?
        /// PostgreSQL: attributes the created roles had that were not granted (SUPERUSER,
        /// REPLICATION, BYPASSRLS), for a person to grant if needed.
        public var attributesNotGranted: [RoleAttribute]?
    }

    public struct RoleAttribute: Codable, Sendable, Equatable {
        public var role: String
        public var attribute: String
    }

    /// Plans under the lock; a dry run returns the plan here. A restore that would be refused
    /// throws before `confirm` is asked. Then asks `confirm` (which may print the plan and ask
    /// the user) and restores. Returns nil when `confirm` declined.
    public func run(_ request: Request, confirm: (Plan) throws -> Bool) throws -> Result? {
        let lock = try ArchiveLock(archive: archive, mode: request.inPlace ? .writer : .reader,
                                   command: "restore", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(request.snapshot)
        let manifest = try archive.manifest(of: id)
        let sources = try select(request, in: manifest)
        // What a killed restore left goes first: for these sources, also their work databases.
        let connections = request.connections.filter { name, _ in sources.contains { $0.name == name } }
        let unresolved = IntentRecovery(archive: archive, logger: logger, sqlitePaths: request.sqlitePaths,
                                        postgresConnections: connections).run(holdingWriteLock: request.inPlace)
        if let source = sources.first(where: { unresolved[$0.name] != nil }) {
            throw EHRError(.failure, "source '\(source.name)': an interrupted restore could not be finished or undone: \(unresolved[source.name]!)",
                           hint: "see docs/RUNBOOK.md, \"After a killed restore\"")
        }
        let stamp = Timestamp.compactUTC(Date())
        var restorers: [Restorer] = []
        defer {
            for r in restorers where !r.published { r.discard() }
            for r in restorers { r.intent?.finish() }
        }
        for source in sources {
            do { restorers.append(try restorer(for: source, request, id: id, stamp: stamp)) } catch {
                throw ErrorMapping.map(error, source: source.name)
            }
        }
        var plan = Plan(snapshot: id.rawValue, snapshotStartedAt: manifest.startedAt, inPlace: request.inPlace,
                        steps: restorers.map(\.step))
        let refusal = refusal(plan.steps, request)
        plan.refusal = refusal?.message
        if request.dryRun { return Result(plan: Self.withPatterns(plan, stamp: stamp), restored: []) }
        if let refusal { throw Self.nothingRestored(refusal) }
        guard try confirm(plan) else { return nil }
        // The prompt may have waited: look again.
        if let refusal = self.refusal(plan.steps, request, freshHolders: true) { throw Self.nothingRestored(refusal) }

        for r in restorers {
            r.intent = try holdIntent(r.intentRecord(snapshot: id, inPlace: request.inPlace), readOnly: lock.readOnlyArchive)
        }
        for r in restorers {
            let bytes = sources.first { $0.name == r.step.source }?.files.reduce(Int64(0)) { $0 + $1.uncompressed.size }
            ProgressMeter.shared.begin("restore \(r.step.source)", total: bytes)
            defer { ProgressMeter.shared.end() }
            do { try r.materialize() } catch { throw ErrorMapping.map(error, source: r.step.source) }
        }
        TestHooks.checkpoint(sources.contains { $0.kind == .postgres } ? "postgres-before-swap" : "restore-before-swap")
        // Loading took a while: a service may have started since. Still nothing is renamed.
        if let refusal = self.refusal(plan.steps, request, freshHolders: true, ownRecordsWritten: true) { throw Self.nothingRestored(refusal) }
        var restored: [RestoredSource] = []
        var swapped: [Restorer] = []
        for r in restorers.filter({ $0.step.kind == "sqlite" }) + restorers.filter({ $0.step.kind != "sqlite" }) {
            do { try r.publish(inPlace: request.inPlace) } catch {
                let failed = ErrorMapping.map(error, source: r.step.source)
                guard request.inPlace, !swapped.isEmpty else { throw failed }
                let mapped = (failed as? EHRError) ?? EHRError(.failure, "\(failed)")
                throw undo(swapped, after: mapped)
            }
            swapped.append(r)
            logger.info("restored source", metadata: [
                "snapshot": "\(id)", "source": "\(r.step.source)", "target": "\(r.step.target)", "in_place": "\(request.inPlace)",
            ])
            restored.append(RestoredSource(source: r.step.source, target: r.step.target, bytes: r.step.restoredBytes,
                                           verified: r.verification, createdRoles: r.createdRoles,
                                           attributesNotGranted: r.attributesNotGranted))
        }
        return Result(plan: plan, restored: restored, writesAfterSnapshot: dataLossWindow(plan))
    }

    /// Why an in-place restore must not go ahead (exit 75), or nil: another restore's record
    /// (running, or interrupted and not yet undone) names a target, so two restores would rename
    /// the same files; or a SQLite database is open in another process, without --force.
    /// `freshHolders`: look for processes again instead of trusting the plan's.
    /// `ownRecordsWritten`: this restore's records exist (and the clash was checked before).
    private func refusal(_ steps: [Step], _ request: Request, freshHolders: Bool = false,
                         ownRecordsWritten: Bool = false) -> EHRError? {
        let others = ownRecordsWritten ? [] : archive.intentRecords().compactMap(\.sqlite?.target)
        if let clash = steps.first(where: { $0.kind == "sqlite" && others.contains($0.target) }) {
            return EHRError(.locked, "another restore of \(clash.target) is running or was interrupted and is not yet undone",
                            hint: "wait for it, or run 'ehrdata list' to undo an interrupted one (see docs/RUNBOOK.md, \"After a killed restore\")")
        }
        guard request.inPlace, !request.force else { return nil }
        for step in steps where step.kind == "sqlite" {
            let holders = freshHolders ? SQLiteRestore.holders(of: step.target) : step.inUseBy
            guard !holders.isEmpty else { continue }
            return EHRError(.locked, "\(step.target) is open in \(holders.joined(separator: ", ")); "
                + "renaming it now would lose that process's later writes",
                hint: "stop the service using it, then retry; --force restores anyway")
        }
        return nil
    }

    static func nothingRestored(_ refusal: EHRError) -> EHRError {
        EHRError(refusal.kind, refusal.message + "; nothing was restored", hint: refusal.hint)
    }

    /// A dry run's plan names kept files and databases by pattern: the real restore's own time
    /// goes where `<TIME>` stands.
    static func withPatterns(_ plan: Plan, stamp: String) -> Plan {
        var plan = plan
        plan.keptNamesArePatterns = plan.steps.contains { !$0.keeps.isEmpty }
        for s in plan.steps.indices {
            for k in plan.steps[s].keeps.indices {
                plan.steps[s].keeps[k].keptAs = plan.steps[s].keeps[k].keptAs
                    .replacingOccurrences(of: stamp, with: timePlaceholder)
                    .replacingOccurrences(of: String(stamp.prefix(15)), with: timePlaceholder)
            }
        }
        return plan
    }

    /// The kept database file (its companions go with it) or database of every source.
    private func dataLossWindow(_ plan: Plan) -> DataLossWindow? {
        guard plan.inPlace else { return nil }
        let kept = plan.steps.flatMap { step in step.keeps.filter { $0.path == step.target }.map(\.keptAs) }
        return kept.isEmpty ? nil : DataLossWindow(since: plan.snapshotStartedAt, onlyIn: kept)
    }

    /// Another source's swap failed after `swapped` were made: undoes them, newest first, and
    /// says exactly what state results.
    private func undo(_ swapped: [Restorer], after failure: EHRError) -> EHRError {
        var undone: [String] = [], notes: [String] = [], stuck: [String] = []
        for r in swapped.reversed() {
            do {
                if let note = try r.undoPublish() { notes.append(note) }
                undone.append(r.step.target)
            } catch {
                r.intent?.abandon()
                stuck.append("\(r.step.target) (\(SQLiteRestore.reason(error)))")
            }
        }
        let extra = notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"
        if stuck.isEmpty {
            return EHRError(failure.kind, "\(failure.message); the swap already made for \(undone.joined(separator: ", ")) was undone\(extra): nothing was restored",
                            hint: failure.hint)
        }
        return EHRError(.failure, "\(failure.message); undoing the swap already made for \(stuck.joined(separator: ", ")) failed part-way; the next ehrdata command finishes that undo from its record"
                        + (undone.isEmpty ? "" : " (undone: \(undone.joined(separator: ", ")))"),
                        hint: "run 'ehrdata list' and read what it says; see docs/RUNBOOK.md, \"A restore of several sources that failed\"")
    }

    /// Writes a restore's intent record before its first step. A reader of a read-only archive
    /// goes on without one (restoring from read-only media must work), with a warning.
    private func holdIntent(_ record: IntentRecord, readOnly: Bool) throws -> HeldIntent? {
        do { return try HeldIntent(archive: archive, record: record) } catch {
            guard readOnly else { throw error }
            logger.warning("the archive is read-only: no intent record written; if this restore is killed, remove its temp file or work database by hand",
                           metadata: ["source": "\(record.source)"])
            return nil
        }
    }

    private func select(_ request: Request, in manifest: Manifest) throws -> [Manifest.Source] {
        let names = manifest.sources.map(\.name).joined(separator: ", ")
        let chosen: [Manifest.Source]
        if request.sources.isEmpty {
            chosen = manifest.sources
        } else {
            chosen = try request.sources.map { name in
                guard let source = manifest.sources.first(where: { $0.name == name }) else {
                    throw EHRError(.notFound, "snapshot \(manifest.snapshotID) has no source '\(name)'", hint: "it holds: \(names)")
                }
                return source
            }
        }
        switch request.destination {
        case .newFile, .newDatabase:
            guard chosen.count == 1 else {
                throw EHRError(.usage, "snapshot \(manifest.snapshotID) holds \(chosen.count) sources and the target names one",
                               hint: "pass --source NAME, one of: \(names)")
            }
            let wanted: SourceKind
            if case .newFile = request.destination { wanted = .sqlite } else { wanted = .postgres }
            guard chosen[0].kind == wanted else {
                throw EHRError(.usage, "source '\(chosen[0].name)' is a \(chosen[0].kind.rawValue) source",
                               hint: chosen[0].kind == .sqlite ? "restore it with --to PATH" : "restore it with --to-database NAME")
            }
        case .inPlace:
            break
        }
        return chosen
    }

    private func restorer(for source: Manifest.Source, _ request: Request, id: SnapshotID, stamp: String) throws -> Restorer {
        switch source.kind {
        case .sqlite:
            guard source.sqlite != nil, source.files.count == 1 else {
                throw EHRError(.verificationFailed, "source '\(source.name)' is malformed in the manifest",
                               hint: "this snapshot is damaged; use another snapshot")
            }
            let bytes = source.files[0].uncompressed.size
            let target: String
            if case .newFile(let path) = request.destination {
                target = Paths.absolute(path)
                try SQLiteRestore.checkNewTarget(target)
                let step = Step(source: source.name, kind: "sqlite", target: target, restoredBytes: bytes, keeps: [], inUseBy: [])
                return SQLiteRestorer(SQLiteRestore(archive: archive, snapshot: id, source: source, target: target), step, stamp)
            }
            // In place means where the config says the source lives: the manifest's path (untrusted,
            // and perhaps another machine's) never chooses what is replaced.
            guard let configured = request.sqlitePaths[source.name] else {
                throw EHRError(.configuration,
                               "source '\(source.name)' is not in the config, so there is no place to restore it in (the snapshot recorded \(source.sqlite!.path))",
                               hint: "restore it elsewhere with --to PATH, or add the source to the config")
            }
            target = Paths.absolute(configured)
            let directory = (target as NSString).deletingLastPathComponent
            guard FileSystem.isDirectory(directory) else {
                throw EHRError(.notFound, "directory \(directory) of source '\(source.name)' does not exist",
                               hint: "create it, or restore elsewhere with --to PATH")
            }
            let step = Step(source: source.name, kind: "sqlite", target: target, restoredBytes: bytes,
                            keeps: SQLiteRestore.filesToKeep(target, stamp: stamp), inUseBy: SQLiteRestore.holders(of: target))
            return SQLiteRestorer(SQLiteRestore(archive: archive, snapshot: id, source: source, target: target), step, stamp)
        case .postgres:
            guard let connection = request.connections[source.name] else {
                throw EHRError(.configuration, "source '\(source.name)' is not in the config, so its server is unknown",
                               hint: "add it to the config with its connection string")
            }
            let mode: PostgresRestore.Mode
            if case .newDatabase(let name) = request.destination { mode = .newDatabase(name) } else { mode = .inPlace(stamp: String(stamp.prefix(15))) }
            let restore = try PostgresRestore(archive: archive, snapshot: id, source: source, connectionString: connection, mode: mode,
                                              options: .init(owners: request.owners, privileges: request.privileges,
                                                             createRoles: request.createRoles, jobs: request.jobs),
                                              logger: logger)
            try restore.preflight()
            let bytes = source.uncompressedSize
            var step = Step(source: source.name, kind: "postgres", target: restore.target, restoredBytes: bytes, keeps: [], inUseBy: [])
            if request.inPlace {
                step.keeps = [Kept(path: restore.original, keptAs: restore.keptName, bytes: 0)]
                step.sessionsToEnd = try restore.sessionsOnOriginal()
            }
            return PostgresRestorer(restore, step)
        }
    }
}

/// One source's restore as the engine drives it.
class Restorer {
    let step: RestoreEngine.Step
    var published = false
    /// This source's intent record, held from before its first step until it is over.
    var intent: HeldIntent?
    var verification: String { "" }
    var createdRoles: [String]? { nil }
    var attributesNotGranted: [RestoreEngine.RoleAttribute]? { nil }
    init(step: RestoreEngine.Step) { self.step = step }
    func intentRecord(snapshot: SnapshotID, inPlace: Bool) throws -> IntentRecord { fatalError("subclass") }
    func materialize() throws {}
    func publish(inPlace: Bool) throws {}
    /// Undoes a finished in-place swap; returns what a person should know (a copy kept aside).
    func undoPublish() throws -> String? { nil }
    func discard() {}
}

final class SQLiteRestorer: Restorer {
    let restore: SQLiteRestore
    let stamp: String
    init(_ restore: SQLiteRestore, _ step: RestoreEngine.Step, _ stamp: String) {
        self.restore = restore
        self.stamp = stamp
        super.init(step: step)
    }
    override var verification: String { "SHA-256 and integrity_check ok" }
    override func intentRecord(snapshot: SnapshotID, inPlace: Bool) throws -> IntentRecord {
        IntentRecord(kind: .sqlite, snapshot: snapshot, source: step.source,
                     sqlite: .init(target: restore.target, temp: restore.temp, inPlace: inPlace))
    }
    override func materialize() throws { try restore.materialize() }
    override func publish(inPlace: Bool) throws {
        if inPlace { try restore.swapInPlace(stamp: stamp, intent: intent) } else { try restore.publishNewFile() }
        published = true
    }
    override func undoPublish() throws -> String? {
        let displaced = try restore.undoSwap(intent: intent)
        published = false // the temp file, if it is back there, is removed by discard()
        return displaced.map { "the restored copy of \(step.target) is kept as \($0) because something opened it" }
    }
    override func discard() { restore.discardTemp() }
}

final class PostgresRestorer: Restorer {
    let restore: PostgresRestore
    init(_ restore: PostgresRestore, _ step: RestoreEngine.Step) {
        self.restore = restore
        super.init(step: step)
    }
    override var verification: String { "row counts, content digests and sequences ok" }
    override var createdRoles: [String]? { restore.createdRoles }
    override var attributesNotGranted: [RestoreEngine.RoleAttribute]? { restore.attributesNotGranted }
    override func intentRecord(snapshot: SnapshotID, inPlace: Bool) throws -> IntentRecord {
        // A database that exists already (an empty --to-database target) is not ours to drop.
        let creates = try !restore.workExists()
        return IntentRecord(kind: .postgres, snapshot: snapshot, source: step.source,
                            postgres: .init(workDatabase: creates ? restore.work : nil, mark: creates ? restore.leftoverMark : nil))
    }
    override func materialize() throws { try restore.materialize() }
    override func publish(inPlace: Bool) throws {
        if inPlace { try restore.swapInPlace() } else { restore.publishNew() }
        published = true
    }
    override func undoPublish() throws -> String? {
        // The undo keeps the restored copy under the work name: from now on the record must not
        // name it, or the next restore would drop it as a leftover after a kill.
        if let intent {
            var record = intent.record
            record.postgres?.workDatabase = nil
            try intent.update(record)
        }
        let kept = try restore.undoSwap()
        // Stays published: the restored database is kept (a client may have written to it), not dropped.
        return "the restored copy of \(step.target) is kept as database \(kept)"
    }
    override func discard() { restore.discard() }
}

enum Paths {
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }
}
