#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EHRCore

/// A file being written: created exclusively with mode 0600, closed on every path.
public final class OutputFile {
    private var fd: Int32
    public let path: String
    public private(set) var bytesWritten: Int64 = 0

    /// Fails if `path` exists: archive files are never overwritten in place.
    public init(creating path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw EHRError(.targetExists, "\(path) already exists", hint: "choose another path or move it away first")
            }
            throw FileSystem.error("create", path)
        }
        fchmod(fd, 0o600)
        self.path = path
    }

    /// Takes ownership of a descriptor opened for writing.
    init(descriptor: Int32, path: String) {
        fd = descriptor
        self.path = path
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress!.advanced(by: offset), bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystem.error("write", path)
            }
            offset += n
        }
        bytesWritten += Int64(bytes.count)
        TestHooks.didWrite(bytes: bytes.count)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw FileSystem.error("fsync", path) }
    }

    public func close() throws {
        guard fd >= 0 else { return }
        let rc = Glibc.close(fd)
        fd = -1
        guard rc == 0 else { throw FileSystem.error("close", path) }
    }
}

/// A file being read in bounded chunks, closed on every path.
public final class InputFile {
    private let fd: Int32
    public let path: String

    /// Opens a regular file (a FIFO or a device is refused rather than read without end).
    public init(path: String) throws {
        fd = try FileSystem.openRegularFile(path)
        self.path = path
    }

    /// Takes ownership of a descriptor opened for reading.
    init(descriptor: Int32, path: String) {
        fd = descriptor
        self.path = path
    }

    deinit { Glibc.close(fd) }

    /// The file's size as `fstat` sees it now.
    public func size() throws -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileSystem.error("stat", path) }
        return Int64(st.st_size)
    }

    /// The whole rest of the file, if it is at most `limit` bytes; nil if it is larger. Reads in
    /// pieces, so a file that claims a huge size (or grows) costs at most `limit` + 1 bytes.
    public func readAll(limit: Int) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(limit + 1, 1 << 16))
        while bytes.count <= limit {
            let want = min(chunk.count, limit + 1 - bytes.count)
            let n = try chunk.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0.prefix(want))) }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk.prefix(n))
        }
        return nil
    }

    /// Fills `buffer` as far as the file allows; returns how many bytes were read (0 at the end).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress!.advanced(by: total), buffer.count - total)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystem.error("read", path)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }
}
