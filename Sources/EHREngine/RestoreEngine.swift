#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRSQLite
import Foundation
import Logging

/// `ehrdata restore SNAPSHOT --to PATH`: writes a source's copy to a new file.
///
/// The copy goes to a temp file beside PATH, is checked (compressed and uncompressed SHA-256
/// while streaming, then SQLite's integrity_check, page size and user_version against the
/// manifest), fsynced, and only then renamed to PATH, which must not exist. On any failure the
/// temp file is removed and nothing else is touched.
public struct RestoreEngine {
    public let archive: Archive
    public let logger: Logger

    public init(archive: Archive, logger: Logger) {
        self.archive = archive
        self.logger = logger
    }

    public struct Result: Codable, Sendable {
        public var snapshot: String
        public var source: String
        public var path: String
        public var bytes: Int64
        public var sha256: String
        public var integrityCheck: String
    }

    public func restore(_ selector: SnapshotSelector, source sourceName: String?, to target: String) throws -> Result {
        let lock = try ArchiveLock(archive: archive, mode: .shared, command: "restore")
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(selector)
        let manifest = try archive.manifest(of: id)
        let source = try pick(sourceName, in: manifest)
        guard source.kind == .sqlite, let info = source.sqlite, let file = source.files.first else {
            throw EHRError(.failure, "source '\(source.name)' is a \(source.kind.rawValue) source; this version restores SQLite sources only",
                           hint: "restore it with a newer ehrdata")
        }
        let target = absolute(target)
        try checkTarget(target)

        let directory = (target as NSString).deletingLastPathComponent
        let base = (target as NSString).lastPathComponent
        let temp = "\(directory)/.\(base).ehrdata-restore-\(getpid()).tmp"
        do {
            try write(file, of: id, to: temp)
            try check(temp, against: info, source: source.name)
            try FileSystem.renameNoReplace(temp, target)
            try FileSystem.fsyncDirectory(directory)
        } catch {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
            throw ErrorMapping.map(error, source: source.name)
        }
        logger.info("restored sqlite source", metadata: ["snapshot": "\(id)", "source": "\(source.name)", "path": "\(target)"])
        return Result(snapshot: id.rawValue, source: source.name, path: target, bytes: file.uncompressed.size,
                      sha256: file.uncompressed.sha256, integrityCheck: "ok")
    }

    private func pick(_ name: String?, in manifest: Manifest) throws -> Manifest.Source {
        let names = manifest.sources.map(\.name).joined(separator: ", ")
        if let name {
            guard let source = manifest.sources.first(where: { $0.name == name }) else {
                throw EHRError(.notFound, "snapshot \(manifest.snapshotID) has no source '\(name)'",
                               hint: "it holds: \(names)")
            }
            return source
        }
        guard manifest.sources.count == 1 else {
            throw EHRError(.usage, "snapshot \(manifest.snapshotID) holds \(manifest.sources.count) sources",
                           hint: "pass --source NAME, one of: \(names)")
        }
        return manifest.sources[0]
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }

    private func checkTarget(_ target: String) throws {
        if FileSystem.exists(target) {
            throw EHRError(.targetExists, "\(target) already exists; restore never overwrites a file",
                           hint: "choose a new path with --to, or move the existing file away first")
        }
        let directory = (target as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(directory) else {
            throw EHRError(.notFound, "directory \(directory) does not exist", hint: "create it first or choose another --to path")
        }
    }

    /// Streams the data file into `temp`, checking both digests (DataFileReader does), then fsyncs.
    private func write(_ file: Manifest.File, of id: SnapshotID, to temp: String) throws {
        guard SnapshotPaths.isSafe(file.path) else {
            throw EHRError(.verificationFailed, "snapshot \(id): unsafe path \(file.path) in the manifest",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        let reader = try DataFileReader(path: archive.snapshotDirectory(id) + "/" + file.path, entry: file)
        let output = try OutputFile(creating: temp)
        try reader.read { try output.write($0) }
        try output.sync()
        try output.close()
    }

    private func check(_ temp: String, against info: Manifest.SQLiteInfo, source: String) throws {
        let db = try SQLiteConnection(path: temp, mode: .immutable)
        let problems = try db.integrityProblems()
        guard problems.isEmpty else {
            throw EHRError(.verificationFailed, "the restored copy fails integrity_check: \(problems.first!)",
                           hint: "this snapshot's copy is damaged; use another snapshot")
        }
        guard try db.pageSize == info.pageSize, try db.userVersion == info.userVersion else {
            throw EHRError(.verificationFailed, "the restored copy's page size or user_version differs from the manifest",
                           hint: "this snapshot's copy is damaged; use another snapshot")
        }
    }
}
