import CSQLite
import Glibc

/// A VFS of our own, registered (not as the default) for as long as this object lives. Each
/// instance gets a unique name; `pAppData` points back to the instance, which is how the C
/// callbacks find their Swift state. Connections opened on it keep it alive (see
/// `SQLiteConnection.init(path:mode:vfs:)`), so it is never unregistered under a connection.
public class SQLiteVFS {
    public let name: String
    let vfs: UnsafeMutablePointer<sqlite3_vfs>
    private let cName: UnsafeMutablePointer<CChar>

    /// `fileHeaderSize` bytes of our own come before whatever `innerFileSize` the wrapped VFS needs.
    init(kind: String, innerFileSize: Int32, xOpen: OpenFunction) throws {
        vfs = .allocate(capacity: 1)
        name = "ehrdata-\(kind)-\(UInt(bitPattern: vfs))"
        cName = strdup(name)
        let base = SQLiteVFS.base
        var v = sqlite3_vfs()
        v.iVersion = 2
        v.szOsFile = SQLiteVFS.fileHeaderSize + innerFileSize
        v.mxPathname = base.pointee.mxPathname
        v.zName = UnsafePointer(cName)
        v.xOpen = xOpen
        // File-system calls go to the default VFS with its own pointer, as if it had been called.
        v.xDelete = { _, n, s in SQLiteVFS.base.pointee.xDelete!(SQLiteVFS.base, n, s) }
        v.xAccess = { _, n, f, r in SQLiteVFS.base.pointee.xAccess!(SQLiteVFS.base, n, f, r) }
        v.xFullPathname = { _, n, c, o in SQLiteVFS.base.pointee.xFullPathname!(SQLiteVFS.base, n, c, o) }
        v.xDlOpen = { _, n in SQLiteVFS.base.pointee.xDlOpen!(SQLiteVFS.base, n) }
        v.xDlError = { _, c, o in SQLiteVFS.base.pointee.xDlError!(SQLiteVFS.base, c, o) }
        v.xDlSym = { _, h, s in SQLiteVFS.base.pointee.xDlSym!(SQLiteVFS.base, h, s) }
        v.xDlClose = { _, h in SQLiteVFS.base.pointee.xDlClose!(SQLiteVFS.base, h) }
        v.xRandomness = { _, c, o in SQLiteVFS.base.pointee.xRandomness!(SQLiteVFS.base, c, o) }
        v.xSleep = { _, us in SQLiteVFS.base.pointee.xSleep!(SQLiteVFS.base, us) }
        v.xCurrentTime = { _, t in SQLiteVFS.base.pointee.xCurrentTime!(SQLiteVFS.base, t) }
        v.xGetLastError = { _, c, o in SQLiteVFS.base.pointee.xGetLastError!(SQLiteVFS.base, c, o) }
        v.xCurrentTimeInt64 = { _, t in SQLiteVFS.base.pointee.xCurrentTimeInt64!(SQLiteVFS.base, t) }
        vfs.initialize(to: v)
        vfs.pointee.pAppData = Unmanaged.passUnretained(self).toOpaque()
        let rc = sqlite3_vfs_register(vfs, 0)
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errstr(rc)), context: "registering \(name)")
        }
    }

    deinit {
        sqlite3_vfs_unregister(vfs)
        vfs.deallocate()
        free(cName)
    }

    typealias OpenFunction = @convention(c) (
        UnsafeMutablePointer<sqlite3_vfs>?, sqlite3_filename?, UnsafeMutablePointer<sqlite3_file>?, Int32,
        UnsafeMutablePointer<Int32>?
    ) -> Int32

    // Extended result codes are macros Swift does not import: SQLITE_IOERR | (n << 8).
    static let ioErrRead = SQLITE_IOERR | (1 << 8)
    static let ioErrShortRead = SQLITE_IOERR | (2 << 8)
    static let ioErrWrite = SQLITE_IOERR | (3 << 8)
    static let ioErrTruncate = SQLITE_IOERR | (6 << 8)

    /// The default VFS ("unix" on Linux), found once.
    nonisolated(unsafe) static let base: UnsafeMutablePointer<sqlite3_vfs> = sqlite3_vfs_find(nil)!

    /// Our part of each open file: the `sqlite3_file` base (its methods pointer) and a pointer to
    /// the owning VFS object, padded so the wrapped file that follows stays 16-byte aligned.
    static let fileHeaderSize: Int32 = 32

    /// The Swift object that owns the VFS a file was opened on.
    static func owner<T: SQLiteVFS>(_ vfs: UnsafeMutablePointer<sqlite3_vfs>?, as: T.Type) -> T {
        Unmanaged<T>.fromOpaque(vfs!.pointee.pAppData).takeUnretainedValue()
    }

    static func setOwner(_ file: UnsafeMutablePointer<sqlite3_file>, _ vfs: UnsafeMutablePointer<sqlite3_vfs>?) {
        UnsafeMutableRawPointer(file).storeBytes(of: vfs!.pointee.pAppData, toByteOffset: 8, as: UnsafeMutableRawPointer?.self)
    }

    static func owner<T: SQLiteVFS>(of file: UnsafeMutablePointer<sqlite3_file>?, as: T.Type) -> T {
        let raw = UnsafeMutableRawPointer(file!).load(fromByteOffset: 8, as: UnsafeMutableRawPointer.self)
        return Unmanaged<T>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The wrapped VFS's file, right after our header.
    static func inner(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeMutablePointer<sqlite3_file> {
        UnsafeMutableRawPointer(file!).advanced(by: Int(fileHeaderSize)).assumingMemoryBound(to: sqlite3_file.self)
    }
}
