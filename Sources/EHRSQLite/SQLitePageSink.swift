import CSQLite
import Glibc

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
