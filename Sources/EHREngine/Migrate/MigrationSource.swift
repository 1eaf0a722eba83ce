#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRSQLite
import Foundation
import Logging

/// Where migrate reads from: a SQLite file, a configured source, or a source inside a snapshot.
/// Every table comes from one moment of it while the application keeps writing
/// (`SourceReaders`).
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

/// One moment of the source, and connections that all read it. Three ways to pin it, cheapest
/// first:
///
/// - A live WAL database is read in place: a gate connection takes SQLite's write lock
///   (`BEGIN IMMEDIATE`, which writes nothing), every reader starts its read transaction while no
///   one can commit, so all of them see the same commit, and the gate lets go at once. Writers
///   wait milliseconds (within their busy timeout) and then keep committing while migrate reads;
///   the WAL cannot be checkpointed past the readers until the run ends. Without write access to
///   the file, or when another writer holds the lock for the gate's whole busy timeout, the
///   source is copied with `VACUUM INTO` instead (one statement, so one read transaction).
/// - A live rollback-journal database is copied byte for byte while one read transaction holds
///   SQLite's SHARED lock (no writer can change the file then): writers are blocked for the copy
///   alone, several times shorter than a `VACUUM INTO`.
/// - A snapshot's source is restored (and verified) into the copy.
///
/// A copy is private (created 0600 in `--temp-dir`), read with immutable connections, removed
/// when the run ends and, after a kill, by the next run.
///
/// `@unchecked Sendable`: `idle` is guarded by `lock`; a connection in it is used by no thread,
/// and a leased one by the one thread that holds the lease.
final class SourceReaders: @unchecked Sendable {
    /// When the moment was: the read's start, or the snapshot's.
    let moment: String
    private let copyPath: String?
    private var idle: [SQLiteConnection]
    private let lock = NSCondition()

    private init(moment: String, copyPath: String?, live: [SQLiteConnection] = []) {
        self.moment = moment
        self.copyPath = copyPath
        idle = live
    }

    deinit {
        idle.removeAll()
        if let copyPath { Self.remove(copyPath) }
    }

    /// A connection on the pinned moment, given back when the lease ends.
    final class Lease {
        let db: SQLiteConnection
        private let owner: SourceReaders?

        fileprivate init(_ db: SQLiteConnection, owner: SourceReaders?) {
            self.db = db
            self.owner = owner
        }

        deinit { owner?.giveBack(db) }
    }

    /// Ends the read transactions once the rows are loaded: the application's WAL can be
    /// checkpointed again. No lease is taken after this.
    func release() {
        lock.lock()
        idle.removeAll()
        lock.unlock()
    }

    func lease() throws -> Lease {
        if let copyPath { return Lease(try SQLiteConnection(path: copyPath, mode: .immutable), owner: nil) }
        lock.lock()
        defer { lock.unlock() }
        while idle.isEmpty { lock.wait() }
        return Lease(idle.removeLast(), owner: self)
    }

    private func giveBack(_ db: SQLiteConnection) {
        lock.lock()
        idle.append(db)
        lock.signal()
        lock.unlock()
    }

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

    /// `readers`: how many connections may read at once (the analysis holds one more).
    static func pin(_ source: MigrationSource, readers: Int, tempDirectory: String, archive: () throws -> Archive,
                    logger: Logger) throws -> SourceReaders {
        removeLeftovers(in: tempDirectory, logger: logger)
        let path = tempDirectory + "/\(prefix)\(getpid())-\(UInt32.random(in: 0 ... .max)).sqlite"
        switch source {
        case .file(let live), .configured(_, let live):
            do {
                let started = Timestamp.iso8601(Date())
                if let connections = try LivePin.readers(of: live, count: readers + 1, logger: logger) {
                    return SourceReaders(moment: "read in place at \(started)", copyPath: nil, live: connections)
                }
                try createPrivate(path)
                let copy = SourceReaders(moment: "copied at \(started)", copyPath: path)
                try LivePin.copy(live, to: path, logger: logger)
                return copy
            } catch {
                throw ErrorMapping.map(error)
            }
        case .snapshot(let selector, let name):
            let request = RestoreEngine.Request(snapshot: selector, sources: [name], destination: .newFile(path))
            var moment = ""
            let copy = { SourceReaders(moment: moment, copyPath: path) }
            do {
                guard let result = try RestoreEngine(archive: try archive(), logger: logger).run(request, confirm: { _ in true }) else {
                    throw EHRError(.failure, "the snapshot could not be read")
                }
                moment = "snapshot \(result.plan.snapshot), taken \(result.plan.snapshotStartedAt)"
            } catch {
                remove(path)
                throw error
            }
            return copy()
        }
    }

    /// The copy holds patient data: created empty with mode 0600 before anything is written.
    private static func createPrivate(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw EHRError(.failure, "cannot create the source copy \(path): \(String(cString: strerror(errno)))",
                           hint: "give --temp-dir a writable directory with room for the database")
        }
        close(fd)
    }
}
