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

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func size(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw error("stat", path) }
        return Int64(st.st_size)
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

    /// Every regular file under `root`, as paths relative to it, sorted.
    public static func filesRecursively(_ root: String) throws -> [String] {
        var out: [String] = []
        func walk(_ rel: String) throws {
            let full = rel.isEmpty ? root : root + "/" + rel
            for name in try list(full) {
                let child = rel.isEmpty ? name : rel + "/" + name
                if isDirectory(root + "/" + child) { try walk(child) } else { out.append(child) }
            }
        }
        try walk("")
        return out.sorted()
    }

    /// Writes `data` to `path` atomically: a temp file beside it, fsync, rename, fsync the
    /// directory. Readers see the old content or the new, never a mix.
    public static func atomicWrite(_ data: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let temp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do {
            let file = try OutputFile(creating: temp)
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
