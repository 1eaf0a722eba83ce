#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRSQLite

/// A SQLite source's path, looked at before SQLite opens it, by `backup` and `config check`
/// alike. It must lead to a regular file (links followed: the config is trusted, and a link to
/// the real file is common) that starts with the SQLite header. Without this, SQLite blocks
/// forever opening a FIFO read-only, reports a directory as a disk I/O error, and takes an empty
/// file, a device or a /proc file for an empty database, which backs up as a success.
///
/// The file is opened without blocking (`FileSystem.openRegularFile`), only the header is read
/// (100 bytes), and the descriptor is closed before SQLite opens the path: closing a descriptor
/// releases every POSIX lock this process holds on the file, SQLite's included. The path could
/// change between this check and SQLite's open; the config, and the directories it names, are
/// trusted not to be swapped under a running backup.
enum SQLiteSourceFile {
    /// Why a path is not a database to back up.
    struct Refusal: Error {
        var kind: EHRError.Kind
        /// What is there, without the path, for a `config check` line that shows the path.
        var detail: String
        /// The same, naming the path.
        var message: String
        var hint: String

        func error(source: String) -> EHRError {
            EHRError(kind, "source '\(source)': \(message)", hint: hint)
        }
    }

    static let wrongPathHint = "check 'path' in the config; the service may be writing its database elsewhere"

    /// Returns if `path` is a regular file starting with the SQLite header; otherwise says what
    /// it is (not found, 66, for anything that is not a database; failure, 1, for an I/O error).
    static func check(_ path: String) throws(Refusal) {
        guard FileSystem.exists(path) else {
            throw Refusal(kind: .notFound, detail: "database file does not exist",
                          message: "database file \(path) does not exist",
                          hint: "fix 'path' in the config; 'ehrdata config check' lists the sources")
        }
        let fd: Int32
        do {
            fd = try FileSystem.openRegularFile(path, followingLinks: true, kind: .notFound)
        } catch {
            // "PATH is a FIFO (named pipe), not a regular file", or open(2)'s own reason
            // (permissions, a link to nothing).
            let e = error as? EHRError ?? EHRError(.failure, "cannot open \(path): \(error)")
            let detail = e.message.hasPrefix(path + " ") ? String(e.message.dropFirst(path.count + 1)) : e.message
            throw Refusal(kind: e.kind, detail: detail, message: e.message,
                          hint: e.kind == .notFound ? wrongPathHint : e.hint ?? "check the path")
        }
        defer { close(fd) }
        let header = try readHeader(fd, path)
        if let problem = SQLiteHeader.problem(in: header) {
            throw Refusal(kind: .notFound, detail: problem.description, message: "\(path) \(problem)",
                          hint: wrongPathHint)
        }
    }

    /// The file's first `SQLiteHeader.size` bytes, or all of them if it is shorter.
    private static func readHeader(_ fd: Int32, _ path: String) throws(Refusal) -> ArraySlice<UInt8> {
        var buffer = [UInt8](repeating: 0, count: SQLiteHeader.size)
        var count = 0
        while count < buffer.count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + count, raw.count - count, off_t(count))
            }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                let e = FileSystem.error("read", path)
                throw Refusal(kind: .failure, detail: e.message, message: e.message, hint: e.hint ?? "check the disk")
            }
            count += n
        }
        return buffer.prefix(count)
    }
}
