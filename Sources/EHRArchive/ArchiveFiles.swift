#if canImport(Glibc)
import Glibc
#endif
import CPosix
import EHRCore

/// A directory descriptor, closed when the value goes away.
public final class Descriptor {
    public let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

/// What a directory entry is, as `lstat` sees it: a link is a link, never what it points at.
public enum EntryType: Sendable, Equatable {
    case file, directory, symbolicLink, other(String)
}

/// Paths below the archive root, opened one component at a time relative to the parent with
/// `O_NOFOLLOW`, so that no symbolic link inside the archive is ever followed and nothing is
/// read from or written to a place outside it (docs/ARCHIVE-FORMAT.md, "Nothing in the archive
/// is trusted"). The root itself, the configured path, may be a link.
extension Archive {
    /// A link, a file where a directory should be, or the like: damage to the archive.
    static func damage(_ relative: String, _ what: String) -> EHRError {
        EHRError(.verificationFailed, "archive \(relativeName(relative)) is \(what)",
                 hint: "the archive was changed by something other than ehrdata: remove or replace that entry; use another snapshot")
    }

    private static func relativeName(_ relative: String) -> String { relative.isEmpty ? "directory" : "entry \(relative)" }

    /// The type of the entry `name` in directory `dir`, without following a link; nil if missing.
    static func entryType(in dir: Int32, _ name: String) -> EntryType? {
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symbolicLink
        case let other: return .other(FileSystem.describe(other))
        }
    }

    func openRoot() throws -> Descriptor {
        let fd = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystem.error("open archive directory", root) }
        return Descriptor(fd)
    }

    /// The directory at `relative` ("" is the root; "snapshots/<id>/data"), every component a
    /// real directory. Missing: `notFound`; a link or a non-directory: damage.
    public func openDirectory(_ relative: String) throws -> Descriptor {
        var current = try openRoot()
        var walked = ""
        for part in relative.split(separator: "/") {
            walked += (walked.isEmpty ? "" : "/") + part
            let fd = openat(current.fd, String(part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw describeFailure(in: current.fd, String(part), walked, errno, wanted: "directory") }
            current = Descriptor(fd)
        }
        return current
    }

    /// Opens the regular file at `relative` for reading, never following a link and never
    /// blocking on a FIFO or a device.
    public func openFile(_ relative: String) throws -> InputFile {
        let (dirPath, name) = Self.split(relative)
        let dir = try openDirectory(dirPath)
        let fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw describeFailure(in: dir.fd, name, relative, errno, wanted: "file") }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            let type = st.st_mode & S_IFMT
            close(fd)
            throw Self.damage(relative, "\(FileSystem.describe(type)), not a regular file")
        }
        _ = ehr_clear_nonblock(fd)
        return InputFile(descriptor: fd, path: root + "/" + relative)
    }

    /// A small file's bytes, at most `limit` of them (more is damage); nil if it does not exist.
    public func readFile(_ relative: String, limit: Int) throws -> [UInt8]? {
        let input: InputFile
        do { input = try openFile(relative) } catch let error as EHRError where error.kind == .notFound { return nil }
        guard let bytes = try input.readAll(limit: limit) else {
            throw Self.damage(relative, "larger than the \(limit) bytes such a file may have")
        }
        return bytes
    }

    /// The entries of the directory at `relative`, sorted by name, each with its `lstat` type.
    public func entries(_ relative: String) throws -> [(name: String, type: EntryType)] {
        let dir = try openDirectory(relative)
        return try Self.entries(of: dir.fd, relative).map { ($0, Self.entryType(in: dir.fd, $0) ?? .other("gone")) }
    }

    /// Writes `bytes` to `relative` atomically inside its own directory (temp file, fsync,
    /// rename, fsync the directory), never through a link.
    public func writeFileAtomically(_ bytes: [UInt8], to relative: String) throws {
        let (dirPath, name) = Self.split(relative)
        let dir = try openDirectory(dirPath)
        let temp = "\(name).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = openat(dir.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileSystem.error("create", root + "/" + dirPath + "/" + temp) }
        let file = OutputFile(descriptor: fd, path: root + "/" + dirPath + "/" + temp)
        do {
            try file.write(bytes)
            try file.sync()
            try file.close()
            guard renameat(dir.fd, temp, dir.fd, name) == 0 else { throw FileSystem.error("rename into", root + "/" + relative) }
            guard fsync(dir.fd) == 0 else { throw FileSystem.error("fsync directory", root + "/" + dirPath) }
        } catch {
            unlinkat(dir.fd, temp, 0)
            throw error
        }
    }

    /// Removes the entry `name` of the directory at `relative` and, if it is a directory,
    /// everything below it, without following any link: a link is removed, never its target.
    public func removeTree(_ name: String, in relative: String) throws {
        let dir = try openDirectory(relative)
        try Self.removeTree(name, in: dir.fd, display: root + "/" + (relative.isEmpty ? "" : relative + "/") + name)
    }

    static func removeTree(_ name: String, in dir: Int32, display: String) throws {
        guard let type = entryType(in: dir, name) else { return }
        if type == .directory {
            let fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw FileSystem.error("open directory", display) }
            let child = Descriptor(fd)
            for entry in try entries(of: child.fd, display) {
                try removeTree(entry, in: child.fd, display: display + "/" + entry)
            }
            guard unlinkat(dir, name, AT_REMOVEDIR) == 0 || errno == ENOENT else { throw FileSystem.error("remove", display) }
        } else {
            guard unlinkat(dir, name, 0) == 0 || errno == ENOENT else { throw FileSystem.error("remove", display) }
        }
    }

    /// Names in an open directory (not `.` or `..`), sorted.
    static func entries(of dir: Int32, _ display: String) throws -> [String] {
        let copy = dup(dir)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw FileSystem.error("list", display)
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    private func describeFailure(in dir: Int32, _ name: String, _ relative: String, _ code: Int32, wanted: String) -> EHRError {
        switch Self.entryType(in: dir, name) {
        case nil:
            return EHRError(.notFound, "archive entry \(relative) does not exist", hint: "this snapshot or archive is incomplete; use another snapshot")
        case .symbolicLink?:
            return Self.damage(relative, "a symbolic link, where a \(wanted) should be")
        case .directory? where wanted == "file":
            return Self.damage(relative, "a directory, where a file should be")
        case .file? where wanted == "directory", .other? where wanted == "directory":
            return Self.damage(relative, "not a directory")
        default:
            return FileSystem.error("open", root + "/" + relative, code)
        }
    }

    static func split(_ relative: String) -> (directory: String, name: String) {
        guard let slash = relative.lastIndex(of: "/") else { return ("", relative) }
        return (String(relative[..<slash]), String(relative[relative.index(after: slash)...]))
    }
}
