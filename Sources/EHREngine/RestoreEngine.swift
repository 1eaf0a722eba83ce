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
        public var inPlace: Bool
        public var steps: [Step]
    }

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

        public init(plan: Plan, restored: [RestoredSource]) {
            self.plan = plan
            self.restored = restored
        }
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

    /// Plans under the lock, asks `confirm` (which may print the plan and ask the user, or
    /// return false for a dry run), then restores. Returns nil when `confirm` declined.
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
        let plan = Plan(snapshot: id.rawValue, inPlace: request.inPlace, steps: restorers.map(\.step))
        guard try confirm(plan) else { return nil }

        // Another restore's record (running, or interrupted and not yet undone) names a target:
        // two restores must never rename the same files.
        let others = archive.intentRecords().compactMap(\.sqlite?.target)
        if let clash = plan.steps.first(where: { $0.kind == "sqlite" && others.contains($0.target) }) {
            throw EHRError(.locked, "another restore of \(clash.target) is running or was interrupted and is not yet undone",
                           hint: "wait for it, or run 'ehrdata list' to undo an interrupted one (see docs/RUNBOOK.md, \"After a killed restore\")")
        }
        if request.inPlace, !request.force, let busy = plan.steps.first(where: { !$0.inUseBy.isEmpty }) {
            throw EHRError(.locked, "\(busy.target) is open in \(busy.inUseBy.joined(separator: ", ")); "
                + "renaming it now would lose that process's later writes",
                hint: "stop the service using it, then retry; --force restores anyway")
        }
        for r in restorers {
            r.intent = try holdIntent(r.intentRecord(snapshot: id, inPlace: request.inPlace), readOnly: lock.readOnlyArchive)
        }
        for r in restorers {
            do { try r.materialize() } catch { throw ErrorMapping.map(error, source: r.step.source) }
        }
        TestHooks.checkpoint(sources.contains { $0.kind == .postgres } ? "postgres-before-swap" : "restore-before-swap")
        var restored: [RestoredSource] = []
        for r in restorers {
            do { try r.publish(inPlace: request.inPlace) } catch { throw ErrorMapping.map(error, source: r.step.source) }
            logger.info("restored source", metadata: [
                "snapshot": "\(id)", "source": "\(r.step.source)", "target": "\(r.step.target)", "in_place": "\(request.inPlace)",
            ])
            restored.append(RestoredSource(source: r.step.source, target: r.step.target, bytes: r.step.restoredBytes,
                                           verified: r.verification, createdRoles: r.createdRoles,
                                           attributesNotGranted: r.attributesNotGranted))
        }
        return Result(plan: plan, restored: restored)
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
    override func discard() { restore.discard() }
}

enum Paths {
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }
}
