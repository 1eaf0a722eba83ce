#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Who else has a SQLite database open. Renaming a database under an open connection loses that
/// process's later writes, so an in-place restore asks first.
///
/// Two independent signals: processes with the database, its -wal or -shm open (from /proc, which
/// sees idle connections too), and SQLite's own locks (every WAL connection holds a read lock on
/// the -shm "dead man switch" byte; a rollback-journal transaction locks the database's lock
/// bytes), which are also seen across PID namespaces that /proc does not show.
public enum SQLiteFileUsage {
    public struct Holder: Sendable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var command: String
        public var description: String { "pid \(pid) (\(command))" }
    }

    public static func holders(of database: String) -> [Holder] {
        var found: [Int32: Holder] = [:]
        for h in openers(of: [database, database + "-wal", database + "-shm"]) { found[h.pid] = h }
        for pid in lockHolders(database) where found[pid] == nil {
            found[pid] = Holder(pid: pid, command: command(of: pid))
        }
        return found.values.sorted { $0.pid < $1.pid }
    }

    private static func identity(_ path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    private static func openers(of paths: [String]) -> [Holder] {
        let targets = paths.compactMap(identity)
        guard !targets.isEmpty, let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let me = getpid()
        var result: [Holder] = []
        for name in pids {
            guard let pid = Int32(name), pid != me,
                  let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(name)/fd") else { continue }
            let hit = fds.contains { fd in
                guard let id = identity("/proc/\(name)/fd/\(fd)") else { return false }
                return targets.contains { $0 == id }
            }
            if hit { result.append(Holder(pid: pid, command: command(of: pid))) }
        }
        return result
    }

    private static func command(of pid: Int32) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    /// Pids holding SQLite's POSIX locks: the -shm DMS byte (offset 128) or the database's
    /// PENDING/RESERVED/SHARED bytes (0x40000000 and the 512 after it).
    private static func lockHolders(_ database: String) -> [Int32] {
        var pids: [Int32] = []
        if let pid = conflictingLock(database + "-shm", start: 128, length: 1) { pids.append(pid) }
        if let pid = conflictingLock(database, start: 0x4000_0000, length: 512) { pids.append(pid) }
        return pids
    }

    private static func conflictingLock(_ path: String, start: Int, length: Int) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var query = flock()
        query.l_type = Int16(F_WRLCK)
        query.l_whence = Int16(SEEK_SET)
        query.l_start = off_t(start)
        query.l_len = off_t(length)
        guard fcntl(fd, F_GETLK, &query) == 0, query.l_type != Int16(F_UNLCK) else { return nil }
        return query.l_pid
    }
}
