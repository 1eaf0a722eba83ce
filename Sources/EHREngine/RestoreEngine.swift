import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata restore`: brings sources back from a snapshot, to a new path or in place.
///
/// Every copy is first written to a temp file beside its target and verified there (SHA-256 of
/// the compressed and uncompressed bytes while streaming, then SQLite's integrity_check, page
/// size and user_version against the manifest). Only when every selected source has verified is
/// anything renamed. In place, the current database and its -wal/-shm/-journal are renamed to
/// `<name>.pre-restore-<time>…` first: nothing is ever deleted.
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
        /// A new file; refuses an existing one.
        case newFile(String)
        /// Where each source lives now (`currentPaths` by source name, else the manifest's path).
        case inPlace(currentPaths: [String: String])
    }

    public struct Request: Sendable {
        public var snapshot: SnapshotSelector
        public var sources: [String]
        public var destination: Destination
        /// Restore in place even if another process has the database open.
        public var force: Bool

        public init(snapshot: SnapshotSelector, sources: [String], destination: Destination, force: Bool = false) {
            self.snapshot = snapshot
            self.sources = sources
            self.destination = destination
            self.force = force
        }
    }

    public struct Plan: Codable, Sendable {
        public var snapshot: String
        public var inPlace: Bool
        public var steps: [Step]
    }

    public struct Step: Codable, Sendable {
        public var source: String
        public var target: String
        public var restoredBytes: Int64
        /// Files moved aside (never deleted), in place only.
        public var keeps: [Kept]
        /// Processes that have the target open; in place refuses them unless forced.
        public var inUseBy: [String]
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
        public var path: String
        public var bytes: Int64
        public var sha256: String
        public var integrityCheck: String
    }

    /// Plans under the lock, asks `confirm` (which may print the plan and ask the user, or
    /// return false for a dry run), then restores. Returns nil when `confirm` declined.
    public func run(_ request: Request, confirm: (Plan) throws -> Bool) throws -> Result? {
        let inPlace = { if case .inPlace = request.destination { return true } else { return false } }()
        let lock = try ArchiveLock(archive: archive, mode: inPlace ? .writer : .reader,
                                   command: "restore", wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(request.snapshot)
        let manifest = try archive.manifest(of: id)
        let sources = try select(request, in: manifest)
        let stamp = Timestamp.compactUTC(Date())
        let steps = try sources.map { try step(for: $0, request.destination, stamp: stamp) }
        let plan = Plan(snapshot: id.rawValue, inPlace: inPlace, steps: steps)
        guard try confirm(plan) else { return nil }

        if inPlace, !request.force, let busy = steps.first(where: { !$0.inUseBy.isEmpty }) {
            throw EHRError(.locked, "\(busy.target) is open in \(busy.inUseBy.joined(separator: ", ")); "
                + "renaming it now would lose that process's later writes",
                hint: "stop the service using it, then retry; --force restores anyway")
        }
        var prepared: [(SQLiteRestore, Manifest.Source, Step)] = []
        defer { for (restore, _, _) in prepared { restore.discardTemp() } }
        for (source, step) in zip(sources, steps) {
            let restore = SQLiteRestore(archive: archive, snapshot: id, source: source, target: step.target)
            prepared.append((restore, source, step))
            do { try restore.materialize() } catch { throw ErrorMapping.map(error, source: source.name) }
        }
        TestHooks.checkpoint("restore-before-swap")
        var restored: [RestoredSource] = []
        for (restore, source, step) in prepared {
            do {
                if inPlace { try restore.swapInPlace(stamp: stamp) } else { try restore.publishNewFile() }
            } catch { throw ErrorMapping.map(error, source: source.name) }
            let file = source.files[0]
            logger.notice("restored sqlite source", metadata: [
                "snapshot": "\(id)", "source": "\(source.name)", "path": "\(step.target)", "in_place": "\(inPlace)",
            ])
            restored.append(RestoredSource(source: source.name, path: step.target, bytes: file.uncompressed.size,
                                           sha256: file.uncompressed.sha256, integrityCheck: "ok"))
        }
        return Result(plan: plan, restored: restored)
    }

    private func select(_ request: Request, in manifest: Manifest) throws -> [Manifest.Source] {
        let names = manifest.sources.map(\.name).joined(separator: ", ")
        var chosen: [Manifest.Source]
        if request.sources.isEmpty {
            if case .newFile = request.destination, manifest.sources.count > 1 {
                throw EHRError(.usage, "snapshot \(manifest.snapshotID) holds \(manifest.sources.count) sources and --to names one file",
                               hint: "pass --source NAME, one of: \(names)")
            }
            chosen = manifest.sources
        } else {
            chosen = try request.sources.map { name in
                guard let source = manifest.sources.first(where: { $0.name == name }) else {
                    throw EHRError(.notFound, "snapshot \(manifest.snapshotID) has no source '\(name)'", hint: "it holds: \(names)")
                }
                return source
            }
        }
        if case .newFile = request.destination, chosen.count > 1 {
            throw EHRError(.usage, "--to names one file but \(chosen.count) sources were chosen", hint: "pass one --source")
        }
        for source in chosen where source.kind != .sqlite || source.sqlite == nil || source.files.count != 1 {
            throw EHRError(.failure, "source '\(source.name)' is a \(source.kind.rawValue) source; this version restores SQLite sources only",
                           hint: "restore it with a newer ehrdata, or pass --source for a SQLite source")
        }
        return chosen
    }

    private func step(for source: Manifest.Source, _ destination: Destination, stamp: String) throws -> Step {
        let bytes = source.files[0].uncompressed.size
        switch destination {
        case .newFile(let path):
            let target = Paths.absolute(path)
            try SQLiteRestore.checkNewTarget(target)
            return Step(source: source.name, target: target, restoredBytes: bytes, keeps: [], inUseBy: [])
        case .inPlace(let current):
            let target = Paths.absolute(current[source.name] ?? source.sqlite!.path)
            let directory = (target as NSString).deletingLastPathComponent
            guard FileSystem.isDirectory(directory) else {
                throw EHRError(.notFound, "directory \(directory) of source '\(source.name)' does not exist",
                               hint: "create it, or restore elsewhere with --to PATH")
            }
            return Step(source: source.name, target: target, restoredBytes: bytes,
                        keeps: SQLiteRestore.filesToKeep(target, stamp: stamp),
                        inUseBy: SQLiteRestore.holders(of: target))
        }
    }
}

enum Paths {
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }
}
