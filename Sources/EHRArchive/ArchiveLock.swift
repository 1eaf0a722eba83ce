#if canImport(Glibc)
import Glibc
#endif
import CPosix
import EHRCore
import Foundation
import Logging

/// The archive's kernel locks (flock), released by the kernel when the holder dies, so a crash
/// leaves no stale lock to clean up by hand. Two lock files:
///
/// - `write.lock`: taken exclusively by every writer (backup, restore in place, prune), so two
///   writers never overlap. Backup only adds a snapshot through staging and an atomic rename, so
///   readers keep working while it runs (as with restic).
/// - `read.lock`: shared by readers (list, verify, restore elsewhere) and by writers that only
///   add; taken exclusively by commands that remove or rewrite snapshots (prune, key changes).
///
/// The holder of an exclusive lock writes pid, host, command and start time into the file, only
/// to say who holds it; the content is cleared on release.
public final class ArchiveLock {
    public enum Mode: Sendable {
        /// list, verify, restore elsewhere.
        case reader
        /// backup, restore in place: excludes other writers, not readers.
        case writer
        /// prune and key changes: excludes everyone.
        case exclusive
    }

    public static let writerLockName = "write.lock"
    public static let readerLockName = "read.lock"

    private var held: [(fd: Int32, recorded: Bool)] = []
    public let mode: Mode

    /// A reader on a read-only archive whose `read.lock` does not exist (and cannot be made)
    /// runs without it; it changes nothing, so nothing can be half-done by it.
    public private(set) var readOnlyArchive = false

    /// Takes the lock, waiting up to `wait` seconds (0: fail at once with the `locked` code).
    /// `createLockFiles: false` (a reader that must change nothing, not even create a lock file,
    /// such as `prune --dry-run`): a missing lock file is not created, and the reader goes without it.
    public init(archive: Archive, mode: Mode, command: String, wait: TimeInterval = 0,
                logger: Logger? = nil, createLockFiles: Bool = true) throws {
        self.createLockFiles = createLockFiles
        self.mode = mode
        let deadline = Date().addingTimeInterval(wait)
        do {
            if mode != .reader {
                try take(archive.root + "/" + ArchiveLock.writerLockName, exclusive: true, command: command, until: deadline)
            }
            try take(archive.root + "/" + ArchiveLock.readerLockName, exclusive: mode == .exclusive,
                     command: command, until: deadline, readerMayGoWithout: mode == .reader)
        } catch {
            release()
            throw error
        }
        if readOnlyArchive {
            logger?.warning("the archive is read-only (or not writable by this user): nothing will be recorded in it",
                            metadata: ["archive": "\(archive.root)"])
        }
    }

    private init(mode: Mode) {
        self.mode = mode
        createLockFiles = true
    }

    private let createLockFiles: Bool

    /// The writer lock alone, if it is free at this moment; nil if another command writes (or
    /// the archive is read-only). For a reader that must finish a dead writer's work.
    public static func tryWriter(archive: Archive, command: String) -> ArchiveLock? {
        let lock = ArchiveLock(mode: .writer)
        do { try lock.take(archive.root + "/" + writerLockName, exclusive: true, command: command, until: Date()) } catch { return nil }
        return lock.held.isEmpty ? nil : lock
    }

    deinit { release() }

    private func release() {
        for (fd, recorded) in held.reversed() {
            if recorded { ftruncate(fd, 0) }
            flock(fd, LOCK_UN)
            close(fd)
        }
        held = []
    }

    private func take(_ path: String, exclusive: Bool, command: String, until deadline: Date,
                      readerMayGoWithout: Bool = false) throws {
        // No link is followed and no FIFO waited on; a shared flock needs only read access,
        // so a reader of a read-only archive opens an existing lock file read-only.
        let flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK
        var fd = open(path, O_RDWR | (createLockFiles ? O_CREAT : 0) | flags, 0o600)
        if fd < 0, errno == ENOENT, !createLockFiles, readerMayGoWithout { return }
        if fd < 0, readerMayGoWithout, [EROFS, EACCES, EPERM].contains(errno) {
            fd = open(path, O_RDONLY | flags)
            if fd < 0, errno == ENOENT || errno == EACCES {
                readOnlyArchive = true
                return
            }
            if fd >= 0 { readOnlyArchive = true }
        }
        guard fd >= 0 else {
            if errno == EROFS {
                throw EHRError(.failure, "the archive \((path as NSString).deletingLastPathComponent) is on a read-only filesystem",
                               hint: "\(command) writes to the archive: remount it read-write, or use a writable archive")
            }
            if errno == ELOOP { throw Archive.damage((path as NSString).lastPathComponent, "a symbolic link, where a lock file should be") }
            throw FileSystem.error("open lock file", path)
        }
        do { try FileSystem.requireRegularFile(fd, path) } catch {
            close(fd)
            throw error
        }
        _ = ehr_clear_nonblock(fd)
        while flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let error = FileSystem.error("lock", path)
                close(fd)
                throw error
            }
            if Date() >= deadline {
                let holder = ArchiveLock.describeHolder(fd: fd)
                close(fd)
                throw EHRError(.locked, "the archive is in use by \(holder)",
                               hint: "wait for it to finish, or pass --wait-lock DURATION (e.g. --wait-lock 10m)")
            }
            usleep(100_000)
        }
        if exclusive && !readOnlyArchive {
            let line = "pid=\(getpid()) host=\(ProcessInfo.processInfo.hostName) command=\(command) since=\(Timestamp.iso8601(Date()))\n"
            ftruncate(fd, 0)
            _ = line.withCString { pwrite(fd, $0, strlen($0), 0) }
        }
        held.append((fd, exclusive))
    }

    /// Who holds the lock, from the line its holder wrote: at most 512 bytes, one line, printable.
    static func describeHolder(fd: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 512)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = String(decoding: bytes.prefix(max(0, n)), as: UTF8.self)
            .split(separator: "\n").first.map { String($0.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(Character.init)) } ?? ""
        guard !text.isEmpty else { return "another ehrdata process (a reader: list, verify or restore)" }
        return "another ehrdata process (\(text.trimmingCharacters(in: .whitespaces)))"
    }
}
