import CSQLite
import Glibc

/// Copies the snapshot that a connection's open read transaction sees, page by page and in file
/// order, into a callback instead of a file. The online backup API still does the copying, so
/// consistency is SQLite's own; it writes into a VFS of ours (`SQLitePageSink`) whose one file
/// hands each page on as it lands.
///
/// Why: a backup then compresses pages as they are copied, with no scratch copy to write and
/// read back (about 2 s and 1 GB of page cache per GB of database).
///
/// Page 1 is the exception: the backup keeps it pinned and writes it last, at its commit. The
/// source connection is therefore opened on a `SQLitePageTap`, which saw page 1 when the read
/// transaction began; that page goes out first, and the page the backup writes at the end must
/// equal it in everything but the fields a backup always rewrites (change counter, schema cookie,
/// version-valid-for, SQLite version). Any surprise (a page out of order, a read-back, a
/// different page 1, a short copy) throws `NotStreamable` and the caller copies another way;
/// nothing is guessed.
public enum SQLitePageStream {
    public struct NotStreamable: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public init(reason: String) { self.reason = reason }
        public var description: String { "the database cannot be streamed page by page: \(reason)" }
    }

    /// `source` must hold an open read transaction and have been opened on `tap`.
    public static func copy(from source: SQLiteConnection, tap: SQLitePageTap, pagesPerStep: Int32 = 1024,
                            to deliver: (UnsafeRawBufferPointer) throws -> Void) throws {
        let pageSize = try source.pageSize
        let pageCount = try source.pageCount
        tap.isRecording = false
        guard var first = tap.firstPage, first.count >= pageSize else {
            throw NotStreamable(reason: "page 1 was not read through the tap")
        }
        first = Array(first.prefix(pageSize))
        // As the backup does: the in-header size is the snapshot's page count.
        for i in 0..<4 { first[28 + i] = UInt8(truncatingIfNeeded: UInt32(pageCount) >> (24 - 8 * i)) }
        try first.withUnsafeBytes { try deliver($0) }

        try withoutActuallyEscaping(deliver) { deliver in
            let sink = try SQLitePageSink(pageSize: pageSize, deliver: deliver)
            try copyRest(from: source, into: sink, pagesPerStep: pagesPerStep)
            if let error = sink.deliveryError { throw error }
            if let problem = sink.problem { throw NotStreamable(reason: problem) }
            guard sink.next == Int64(pageCount) * Int64(pageSize) else {
                throw NotStreamable(reason: "the copy ended at byte \(sink.next) of \(pageCount * pageSize)")
            }
            guard let last = sink.finalFirstPage else { throw NotStreamable(reason: "the backup never wrote page 1") }
            guard samePage1(first, last) else {
                throw NotStreamable(reason: "page 1 seen at the start differs from the one the backup wrote")
            }
        }
    }

    private static func copyRest(from source: SQLiteConnection, into sink: SQLitePageSink, pagesPerStep: Int32) throws {
        let destination = try SQLiteConnection(path: "stream.sqlite", mode: .create, vfs: sink)
        try destination.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
        let backup = try SQLiteBackup(from: source, to: destination)
        do {
            while try !backup.step(pages: pagesPerStep) {
                // Writes out the step's pages (all but the pinned page 1), so memory stays bounded
                // by one step and pages arrive in order.
                let rc = sqlite3_db_cacheflush(destination.handle)
                guard rc == SQLITE_OK else { throw SQLiteError(rc, destination.handle, "flushing the streamed copy") }
            }
            try backup.finish()
        } catch {
            // The sink's own account of what went wrong beats SQLite's I/O error code.
            if sink.deliveryError != nil || sink.problem != nil { return }
            throw error
        }
    }

    /// Header fields a backup always rewrites in its copy: change counter (24), schema cookie (40),
    /// version-valid-for (92) and the writing library's version (96). All else must match.
    private static func samePage1(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        let rewritten: [Range<Int>] = [24..<28, 40..<44, 92..<100]
        for i in a.indices where a[i] != b[i] && !rewritten.contains(where: { $0.contains(i) }) { return false }
        return true
    }
}

/// The backup's destination: a VFS whose only file keeps no data. Pages written in order go to
/// `deliver`; page 1 (written at the commit) is kept for the check; the page holding SQLite's
/// lock byte at 1 GiB, which SQLite never writes, is delivered as the zeros a file would hold.
/// Anything else is recorded as a problem and fails the write.
final class SQLitePageSink: SQLiteVFS {
    let pageSize: Int
    private let deliver: (UnsafeRawBufferPointer) throws -> Void
    /// The offset of the next page to deliver.
    private(set) var next: Int64
    private var fileSize: Int64 = 0
    private(set) var finalFirstPage: [UInt8]?
    private(set) var problem: String?
    private(set) var deliveryError: Error?

    /// SQLite's PENDING_BYTE: the page containing it is never part of the database.
    private static let pendingByteOffset: Int64 = 0x4000_0000

    init(pageSize: Int, deliver: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        self.pageSize = pageSize
        self.deliver = deliver
        next = Int64(pageSize)
        try super.init(kind: "sink", innerFileSize: 0, xOpen: { vfs, _, file, flags, outFlags in
            // Only the database itself: with journal_mode OFF nothing else is opened.
            guard flags & SQLITE_OPEN_MAIN_DB != 0 else {
                file!.pointee.pMethods = nil
                return SQLITE_CANTOPEN
            }
            SQLiteVFS.setOwner(file!, vfs)
            file!.pointee.pMethods = UnsafePointer(SQLitePageSink.methods)
            outFlags?.pointee = flags
            return SQLITE_OK
        })
        // No journal, WAL or lock file of this name exists, whatever is on disk.
        vfs.pointee.xAccess = { _, _, _, result in result?.pointee = 0; return SQLITE_OK }
        vfs.pointee.xFullPathname = { _, name, size, out in
            guard let name, let out else { return SQLITE_CANTOPEN }
            strncpy(out, name, Int(size))
            return SQLITE_OK
        }
    }

    fileprivate func write(_ buffer: UnsafeRawPointer, amount: Int32, offset: Int64) -> Int32 {
        guard problem == nil, deliveryError == nil else { return SQLiteVFS.ioErrWrite }
        fileSize = max(fileSize, offset + Int64(amount))
        guard Int(amount) == pageSize else {
            problem = "a write of \(amount) bytes, not one page"
            return SQLiteVFS.ioErrWrite
        }
        if offset == 0 {
            finalFirstPage = Array(UnsafeRawBufferPointer(start: buffer, count: pageSize))
            return SQLITE_OK
        }
        do {
            if next == Self.pendingByteOffset, offset == next + Int64(pageSize) {
                try [UInt8](repeating: 0, count: pageSize).withUnsafeBytes { try deliver($0) }
                next += Int64(pageSize)
            }
            guard offset == next else {
                problem = "page at byte \(offset) written when byte \(next) was next"
                return SQLiteVFS.ioErrWrite
            }
            try deliver(UnsafeRawBufferPointer(start: buffer, count: pageSize))
            next += Int64(pageSize)
            return SQLITE_OK
        } catch {
            deliveryError = error
            return SQLiteVFS.ioErrWrite
        }
    }

    fileprivate func read(_ buffer: UnsafeMutableRawPointer, amount: Int32, offset: Int64) -> Int32 {
        // Past the end a file reads as zeros (SQLite asks for that on a fresh file); data it
        // wrote is gone, so a read-back is a problem.
        guard offset >= fileSize else {
            problem = "SQLite read back bytes it had written"
            return SQLiteVFS.ioErrRead
        }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Int(amount))
        return SQLiteVFS.ioErrShortRead
    }

    fileprivate func truncate(to size: Int64) -> Int32 {
        guard size >= next else {
            problem = "the copy was truncated to \(size) bytes after \(next) were delivered"
            return SQLiteVFS.ioErrTruncate
        }
        fileSize = size
        return SQLITE_OK
    }

    private static func sink(_ file: UnsafeMutablePointer<sqlite3_file>?) -> SQLitePageSink {
        SQLiteVFS.owner(of: file, as: SQLitePageSink.self)
    }

    nonisolated(unsafe) static let methods: UnsafeMutablePointer<sqlite3_io_methods> = {
        var t = sqlite3_io_methods()
        t.iVersion = 1
        t.xClose = { _ in SQLITE_OK }
        t.xRead = { f, b, a, o in sink(f).read(b!, amount: a, offset: o) }
        t.xWrite = { f, b, a, o in sink(f).write(b!, amount: a, offset: o) }
        t.xTruncate = { f, s in sink(f).truncate(to: s) }
        t.xSync = { _, _ in SQLITE_OK }
        t.xFileSize = { f, s in s?.pointee = sink(f).fileSize; return SQLITE_OK }
        t.xLock = { _, _ in SQLITE_OK }
        t.xUnlock = { _, _ in SQLITE_OK }
        t.xCheckReservedLock = { _, r in r?.pointee = 0; return SQLITE_OK }
        t.xFileControl = { _, _, _ in SQLITE_NOTFOUND }
        t.xSectorSize = { _ in 4096 }
        t.xDeviceCharacteristics = { _ in 0 }
        let p = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        p.initialize(to: t)
        return p
    }()
}
