#if canImport(Glibc)
import Glibc
#endif
import EHRCore
import Foundation

/// The archive's kernel lock (flock on `ARCHIVE/lock`). Writers hold it exclusively, readers
/// shared. The kernel drops it when the holder dies, so a crash leaves no stale lock; the file's
/// content (pid, host, command, start time) only says who holds it.
public final class ArchiveLock {
    public enum Mode { case shared, exclusive }

    private let fd: Int32
    public let mode: Mode

    /// Takes the lock, waiting up to `wait` seconds (0: fail at once with the `locked` code).
    public init(archive: Archive, mode: Mode, command: String, wait: TimeInterval = 0) throws {
        let path = archive.root + "/lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileSystem.error("open lock file", path) }
        self.mode = mode
        let operation = (mode == .exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB
        let deadline = Date().addingTimeInterval(wait)
        while flock(fd, operation) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let error = FileSystem.error("lock", path)
                close(fd)
                throw error
            }
            if Date() >= deadline {
                let holder = ArchiveLock.describeHolder(path: path)
                close(fd)
                throw EHRError(.locked, "the archive is locked by \(holder)",
                               hint: "wait for it to finish, or pass --wait-lock DURATION")
            }
            usleep(100_000)
        }
        if mode == .exclusive { record(command: command) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    private func record(command: String) {
        let hostName = ProcessInfo.processInfo.hostName
        let line = "pid=\(getpid()) host=\(hostName) command=\(command) since=\(Timestamp.iso8601(Date()))\n"
        ftruncate(fd, 0)
        _ = line.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    static func describeHolder(path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            return "another ehrdata process (a reader)"
        }
        return "another ehrdata process (\(text.trimmingCharacters(in: .whitespacesAndNewlines)))"
    }
}
