#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRSQLite
import Foundation
import Logging

/// Where migrate reads from: one moment of the source, in a private copy no one writes, so
/// every table comes from the same moment while the application keeps writing, and several
/// connections can read it at once (Debian's SQLite has no SQLITE_ENABLE_SNAPSHOT, so readers
/// of the live file could not share one read transaction). A live file is copied with `VACUUM
/// INTO`, one read transaction; a snapshot's source is restored (and verified) into
/// the copy.
public enum MigrationSource: Sendable, Equatable {
    case file(String)
    /// A configured SQLite source, by name, and its path.
    case configured(name: String, path: String)
    case snapshot(SnapshotSelector, source: String)

    var display: String {
        switch self {
        case .file(let path): path
        case .configured(let name, let path): "source '\(name)' (\(path))"
        case .snapshot(let selector, let source): "source '\(source)' of snapshot \(selector)"
        }
    }
}

/// The private copy, removed when the run ends (and, after a kill, by the next run).
final class SourceCopy {
    let path: String
    /// When the copy's moment was: the read's start, or the snapshot's.
    private(set) var moment = ""

    private init(path: String) { self.path = path }

    deinit { Self.remove(path) }

    static let prefix = "ehrdata-migrate-"

    static func remove(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }

    /// Removes copies left by killed runs: their pid (in the name) is gone.
    static func removeLeftovers(in directory: String, logger: Logger) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".sqlite") {
            let pid = name.dropFirst(prefix.count).prefix { $0.isNumber }
            guard let p = Int32(pid), p != getpid(), kill(p, 0) != 0, errno == ESRCH else { continue }
            remove(directory + "/" + name)
            logger.info("removed a killed migrate's source copy", metadata: ["file": "\(directory)/\(name)"])
        }
    }

    static func make(_ source: MigrationSource, tempDirectory: String, archive: () throws -> Archive,
                     logger: Logger) throws -> SourceCopy {
        removeLeftovers(in: tempDirectory, logger: logger)
        let path = tempDirectory + "/\(prefix)\(getpid())-\(UInt32.random(in: 0 ... .max)).sqlite"
        switch source {
        case .file(let live), .configured(_, let live):
            let copy = SourceCopy(path: path)
            copy.moment = try backUp(live, to: path)
            return copy
        case .snapshot(let selector, let name):
            let copy = SourceCopy(path: path)
            let request = RestoreEngine.Request(snapshot: selector, sources: [name], destination: .newFile(path))
            guard let result = try RestoreEngine(archive: try archive(), logger: logger).run(request, confirm: { _ in true }) else {
                throw EHRError(.failure, "the snapshot could not be read")
            }
            copy.moment = "snapshot \(result.plan.snapshot), taken \(result.plan.snapshotStartedAt)"
            return copy
        }
    }

    /// The copy: `VACUUM INTO`, one statement and so one read transaction of the live file
    /// (writers keep committing in WAL mode). Measured faster than the backup API (it writes the
    /// copy in large sequential runs), and the copy is compact. Created empty with mode 0600
    /// first: it holds patient data.
    private static func backUp(_ live: String, to path: String) throws -> String {
        do {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw EHRError(.failure, "cannot create the source copy \(path): \(String(cString: strerror(errno)))",
                               hint: "give --temp-dir a writable directory with room for the database")
            }
            close(fd)
            let source = try SQLiteConnection(path: live, mode: .readOnly)
            let started = Timestamp.iso8601(Date())
            try source.execute("VACUUM INTO \(SQLiteConnection.quoteLiteral(path))")
            return "read at \(started)"
        } catch {
            throw ErrorMapping.map(error)
        }
    }
}
