#if canImport(Glibc)
import Glibc
#endif
import EHRCore
import Foundation

/// `intents/<name>.json`: what one restore of one source is about to do outside the archive, so
/// that after a kill the next command can finish or undo it (docs/ARCHIVE-FORMAT.md, "Intent
/// records"). The field names are the format.
public struct IntentRecord: Codable, Sendable, Equatable {
    public static let format = "ehrdata-intent"
    public static let newestVersion = 1
    static let directory = "intents"
    static let sizeLimit = 1 << 20

    public enum Phase: String, Codable, Sendable {
        /// A temp file or work database may exist; nothing of the user's was touched.
        case prepare
        /// SQLite in place: `moves` are under way, in order, then temp → target.
        case swap
        /// SQLite in place: a finished swap is being undone (another source of the same restore
        /// failed): the restored files go aside as `.displaced-<undoStamp>`, the moves back.
        case undo
    }

    public struct Move: Codable, Sendable, Equatable {
        public var from: String
        public var to: String
        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    public struct SQLite: Codable, Sendable, Equatable {
        public var target: String
        public var temp: String
        /// In place (the target is the source's configured path), or `--to` a new file.
        public var inPlace: Bool
        public var moves: [Move]?
        /// In `swap`: the temp file's `st_dev:st_ino`. The swap finished exactly when the
        /// target is that file.
        public var tempIdentity: String?
        /// In `undo`: the stamp of the `.displaced-` names, so a database and its companions
        /// moved aside by two different commands still pair.
        public var undoStamp: String?
        public init(target: String, temp: String, inPlace: Bool, moves: [Move]? = nil, tempIdentity: String? = nil) {
            self.target = target
            self.temp = temp
            self.inPlace = inPlace
            self.moves = moves
            self.tempIdentity = tempIdentity
        }
    }

    public struct Postgres: Codable, Sendable, Equatable {
        /// The database this restore creates; nil when it loads into one that existed.
        public var workDatabase: String?
        /// Also written as the work database's comment while it is loaded: a database is dropped
        /// as a leftover only if it carries this mark, or has the in-place work name of the
        /// configured database.
        public var mark: String?
        public init(workDatabase: String?, mark: String? = nil) {
            self.workDatabase = workDatabase
            self.mark = mark
        }
    }

    public var format = IntentRecord.format
    public var version = IntentRecord.newestVersion
    public var kind: SourceKind
    public var phase: Phase
    public var createdAt: String
    public var host: String
    public var pid: Int32
    public var snapshot: String
    public var source: String
    public var sqlite: SQLite?
    public var postgres: Postgres?

    public init(kind: SourceKind, phase: Phase = .prepare, snapshot: SnapshotID, source: String,
                sqlite: SQLite? = nil, postgres: Postgres? = nil) {
        self.kind = kind
        self.phase = phase
        createdAt = Timestamp.iso8601(Date())
        host = ProcessInfo.processInfo.hostName
        pid = getpid()
        self.snapshot = snapshot.rawValue
        self.source = source
        self.sqlite = sqlite
        self.postgres = postgres
    }
}

/// The writer's side: a record on disk, locked for as long as this object lives. Every write
/// goes to a temp file that is locked before it is renamed to the record's name, so the record
/// is never visible unlocked while its writer is alive.
public final class HeldIntent {
    public let archive: Archive
    public let name: String
    public private(set) var record: IntentRecord
    private var fd: Int32 = -1

    /// Writes and fsyncs the record before returning. Throws on a read-only archive (the caller
    /// decides whether to go on without one).
    public init(archive: Archive, record: IntentRecord) throws {
        self.archive = archive
        self.record = record
        let stamp = String(Timestamp.compactUTC(Date()).prefix(15))
        let hex = String(UInt16.random(in: 0 ... .max), radix: 16)
        name = "\(stamp)-\(getpid())-\(String(repeating: "0", count: 4 - hex.count) + hex).json"
        try FileSystem.makeDirectory(archive.root + "/" + IntentRecord.directory)
        try write(record)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Replaces the record (fsynced, with the directory) before the step it describes.
    public func update(_ record: IntentRecord) throws {
        try write(record)
        self.record = record
    }

    /// Lets the record go without removing it: what it describes could not be finished or undone
    /// here, so the next command tries again.
    public func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// The restore is over (done, or cleaned up after a failure): the record goes.
    public func finish() {
        guard fd >= 0, let dir = try? archive.openDirectory(IntentRecord.directory) else { return }
        unlinkat(dir.fd, name, 0)
        fsync(dir.fd)
        close(fd)
        fd = -1
    }

    private func write(_ record: IntentRecord) throws {
        let dir = try archive.openDirectory(IntentRecord.directory)
        let temp = "\(name).tmp-\(UInt32.random(in: 0 ... .max))"
        let display = archive.root + "/" + IntentRecord.directory + "/" + temp
        let newFD = openat(dir.fd, temp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard newFD >= 0 else { throw FileSystem.error("create", display) }
        do {
            guard flock(newFD, LOCK_EX | LOCK_NB) == 0 else { throw FileSystem.error("lock", display) }
            let file = OutputFile(descriptor: dup(newFD), path: display)
            try file.write(try JSONCoding.encode(record))
            try file.sync()
            try file.close()
            guard renameat(dir.fd, temp, dir.fd, name) == 0 else { throw FileSystem.error("rename into", display) }
        } catch {
            unlinkat(dir.fd, temp, 0)
            close(newFD)
            throw error
        }
        // Only now is the older file let go: a reader that opened it before the rename finds
        // the name moved on to a file it cannot lock. From here the record under its name is
        // ours and locked, whatever happens next.
        if fd >= 0 { close(fd) }
        fd = newFD
        guard fsync(dir.fd) == 0 else { throw FileSystem.error("fsync directory", archive.root + "/" + IntentRecord.directory) }
    }
}

/// A record whose writer is dead, locked by us so that no second command acts on it at once.
public final class DeadIntent {
    public let archive: Archive
    public let name: String
    public enum Content: Sendable {
        case record(IntentRecord)
        /// Written by a newer ehrdata: left alone.
        case newer(version: Int)
        /// Not readable (its writer died writing it, or it is a leftover temp file).
        case unreadable
    }
    public let content: Content
    private let fd: Int32

    init(archive: Archive, name: String, content: Content, fd: Int32) {
        self.archive = archive
        self.name = name
        self.content = content
        self.fd = fd
    }

    deinit { close(fd) }

    /// Removes the record once what it describes has been finished or undone.
    public func remove() throws {
        let dir = try archive.openDirectory(IntentRecord.directory)
        guard unlinkat(dir.fd, name, 0) == 0 || errno == ENOENT else {
            throw FileSystem.error("remove", archive.root + "/" + IntentRecord.directory + "/" + name)
        }
        fsync(dir.fd)
    }
}

extension Archive {
    /// The records (and temp files) in `intents/` whose writers are dead, each locked. Records
    /// of live writers are skipped.
    public func deadIntents() throws -> [DeadIntent] {
        let entries: [(name: String, type: EntryType)]
        do { entries = try self.entries(IntentRecord.directory) } catch let error as EHRError where error.kind == .notFound { return [] }
        let dir = try openDirectory(IntentRecord.directory)
        var dead: [DeadIntent] = []
        for (name, type) in entries where type == .file {
            // A temp file is locked only after it is created: one whose writer (its pid is in its
            // name) still runs here may not be locked yet, and is not a leftover.
            if !name.hasSuffix(".json"), let pid = Self.writerPID(name), kill(pid, 0) == 0 || errno == EPERM { continue }
            let fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { continue }
            // Locked: its writer lives. Unlocked but renamed meanwhile: the writer moved on.
            var opened = stat(), current = stat()
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &opened) == 0,
                  fstatat(dir.fd, name, &current, AT_SYMLINK_NOFOLLOW) == 0,
                  opened.st_ino == current.st_ino, opened.st_dev == current.st_dev else {
                close(fd)
                continue
            }
            var content = DeadIntent.Content.unreadable // also a temp file of a writer that died before renaming it
            if name.hasSuffix(".json"),
               let bytes = try? InputFile(descriptor: dup(fd), path: name).readAll(limit: IntentRecord.sizeLimit) {
                let data = Data(bytes)
                if let header = try? JSONDecoder().decode(FormatHeader.self, from: data), header.format == IntentRecord.format {
                    if header.version > IntentRecord.newestVersion {
                        content = .newer(version: header.version)
                    } else if let record = try? JSONDecoder().decode(IntentRecord.self, from: data) {
                        content = .record(record)
                    }
                }
            }
            dead.append(DeadIntent(archive: self, name: name, content: content, fd: fd))
        }
        return dead
    }

    /// Every readable record, live or dead, without locking any: to see what other restores
    /// (running or interrupted) are doing.
    public func intentRecords() -> [IntentRecord] {
        guard let entries = try? self.entries(IntentRecord.directory) else { return [] }
        return entries.compactMap { entry in
            guard entry.type == .file, entry.name.hasSuffix(".json"),
                  let bytes = try? readFile(IntentRecord.directory + "/" + entry.name, limit: IntentRecord.sizeLimit) else { return nil }
            return try? JSONDecoder().decode(IntentRecord.self, from: Data(bytes))
        }
    }

    /// The pid in `<stamp>-<pid>-<hex>.json.tmp-<n>`.
    static func writerPID(_ name: String) -> Int32? {
        let parts = name.split(separator: "-")
        return parts.count >= 3 ? Int32(parts[1]) : nil
    }

    /// Whether `intents/` holds anything at all (cheap: recovery needs the writer lock only then).
    public func hasIntents() -> Bool {
        (try? entries(IntentRecord.directory).isEmpty == false) ?? false
    }
}
