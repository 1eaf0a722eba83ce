#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPosix
import EHRCore
import Foundation

/// The few POSIX calls the archive needs, with errors that name the path. Every file the archive
/// creates is 0600 and every directory 0700 whatever the umask: it holds patient data.
public enum FileSystem {
    public static func error(_ what: String, _ path: String, _ code: Int32 = errno) -> EHRError {
        let reason = String(cString: strerror(code))
        let kind: EHRError.Kind = (code == ENOENT) ? .notFound : .failure
        let hint: String
        switch code {
        case ENOSPC: hint = "the disk is full; free space and retry"
        case EACCES, EPERM: hint = "check permissions of \(path) and its directory"
        case ENOENT: hint = "check the path"
        case EROFS: hint = "the filesystem is read-only"
        default: hint = "check the disk and the path"
        }
        return EHRError(kind, "cannot \(what) \(path): \(reason)", hint: hint)
    }

    /// Creates a directory 0700; succeeds if it already exists as a directory.
    public static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST, isDirectory(path) else { throw error("create directory", path) }
            return
        }
        chmod(path, 0o700)
    }

    /// Creates every missing directory on the way to `path`, each 0700.
    public static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if !isDirectory(current) { try makeDirectory(current) }
        }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `st_dev:st_ino` of what `path` names (not following a link), or nil if nothing.
    public static func identity(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino)"
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func size(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw error("stat", path) }
        return Int64(st.st_size)
    }

    /// Opens `path` for reading only if it is a regular file, without blocking on a FIFO or a
    /// device (open(2) of a FIFO waits for a writer before fstat could look at it): O_NONBLOCK
    /// for the open, fstat, then blocking reads again. `followingLinks: false` also refuses a
    /// symbolic link as the last component. Returns the descriptor; the caller closes it.
    /// `kind` is the error for something that is not a regular file: damage (65) inside the
    /// archive, not found (66) for a source.
    public static func openRegularFile(_ path: String, followingLinks: Bool = true,
                                       kind: EHRError.Kind = .verificationFailed) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (followingLinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            if errno == ELOOP {
                throw EHRError(kind, "\(path) is a symbolic link, not a file",
                               hint: "replace the link with the file itself")
            }
            throw error("open", path)
        }
        do {
            try requireRegularFile(fd, path, kind: kind)
            _ = ehr_clear_nonblock(fd)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Throws unless `fd` is a regular file, naming what it is instead.
    public static func requireRegularFile(_ fd: Int32, _ path: String, kind: EHRError.Kind = .verificationFailed) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("stat", path) }
        let type = st.st_mode & S_IFMT
        guard type != S_IFREG else { return }
        throw EHRError(kind, "\(path) is \(describe(type)), not a regular file",
                       hint: "put the file itself there")
    }

    /// "a directory", "a FIFO", … for an `st_mode & S_IFMT` value.
    public static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }

    public static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw error("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory", path) }
    }

    /// Renames `from` to `to`, failing if `to` exists (no silent replacement).
    public static func renameNoReplace(_ from: String, _ to: String) throws {
        // renameat2(RENAME_NOREPLACE) is atomic; fall back to link+unlink for files where the
        // filesystem lacks it.
        let rc = renameat2NoReplace(from, to)
        if rc == 0 { return }
        if errno == EEXIST {
            throw EHRError(.targetExists, "\(to) already exists", hint: "choose another path or move it away first")
        }
        if errno == EINVAL || errno == ENOSYS {
            guard link(from, to) == 0 else {
                if errno == EEXIST {
                    throw EHRError(.targetExists, "\(to) already exists", hint: "choose another path or move it away first")
                }
                throw error("rename into", to)
            }
            unlink(from)
            return
        }
        throw error("rename into", to)
    }

    /// `renameNoReplace` between two open directories (no path component is resolved again).
    public static func renameNoReplace(_ from: String, in fromDirectory: Int32, to: String, in toDirectory: Int32,
                                       display: String) throws {
        guard ehr_renameat_noreplace(fromDirectory, from, toDirectory, to) != 0 else { return }
        if errno == EEXIST {
            throw EHRError(.targetExists, "\(display) already exists", hint: "choose another path or move it away first")
        }
        throw error("rename into", display)
    }

    private static func renameat2NoReplace(_ from: String, _ to: String) -> Int32 {
        ehr_rename_noreplace(from, to)
    }

    /// The filesystem's magic number (statfs f_type), or nil if the path cannot be examined.
    public static func filesystemType(_ path: String) -> UInt? {
        var type: UInt = 0
        return ehr_filesystem_type(path, &type) == 0 ? type : nil
    }

    public static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw error("rename into", to) }
    }

    /// Removes a file or a whole directory tree; missing is fine.
    public static func removeTree(_ path: String) throws {
        guard exists(path) else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw EHRError(.failure, "cannot remove \(path): \(error.localizedDescription)",
                           hint: "check permissions")
        }
    }

    /// Names in a directory, sorted; missing directory gives [].
    public static func list(_ path: String) throws -> [String] {
        guard isDirectory(path) else { return [] }
        do { return try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw EHRError(.failure, "cannot list \(path)", hint: "check permissions")
        }
    }

    /// Every directory under `root` (not `root` itself), deepest first.
    public static func directoriesRecursively(_ root: String) throws -> [String] {
        var out: [String] = []
        for name in try list(root) where isDirectory(root + "/" + name) {
            out += try directoriesRecursively(root + "/" + name)
            out.append(root + "/" + name)
        }
        return out
    }

    /// Writes `data` to `path` atomically: a temp file beside it, fsync, rename, fsync the
    /// directory. Readers see the old content or the new, never a mix.
    /// `mode`: the file's mode instead of 0600 (a metrics file that another user's exporter reads).
    public static func atomicWrite(_ data: [UInt8], to path: String, mode: mode_t? = nil) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let temp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do {
            let file = try OutputFile(creating: temp)
            if let mode, chmod(temp, mode) != 0 { throw error("set the mode of", temp) }
            try file.write(data)
            try file.sync()
            try file.close()
            try rename(temp, path)
            try fsyncDirectory(dir.isEmpty ? "." : dir)
        } catch {
            unlink(temp)
            throw error
        }
    }
}
