import CSQLite

/// A VFS that passes everything to the default one and remembers the last full read of page 1,
/// from the database file or from a WAL frame, while `isRecording`.
///
/// Why: a streamed copy (`SQLitePageStream`) has to emit page 1 first, but the online backup API
/// writes the destination's page 1 last (it stays pinned until the commit). A connection opened
/// on this VFS reads page 1 when its read transaction starts, so the snapshot's page 1 is known
/// before the copy begins. The stream checks it against the page the backup writes at the end.
public final class SQLitePageTap: SQLiteVFS {
    /// Whether reads of page 1 are recorded; the stream turns it off before copying.
    public var isRecording = true
    /// The last page-1 read seen while recording: page size bytes.
    public private(set) var firstPage: [UInt8]?

    public init() throws {
        try super.init(kind: "tap", innerFileSize: SQLiteVFS.base.pointee.szOsFile, xOpen: { vfs, name, file, flags, outFlags in
            let inner = SQLiteVFS.inner(file)
            inner.pointee.pMethods = nil
            let rc = SQLiteVFS.base.pointee.xOpen!(SQLiteVFS.base, name, inner, flags, outFlags)
            // SQLite calls xClose when pMethods is set, even after a failed open: mirror the inner file.
            guard inner.pointee.pMethods != nil else {
                file!.pointee.pMethods = nil
                return rc
            }
            SQLiteVFS.setOwner(file!, vfs)
            let kind: Int32 = flags & SQLITE_OPEN_MAIN_DB != 0 ? 1 : flags & SQLITE_OPEN_WAL != 0 ? 2 : 0
            UnsafeMutableRawPointer(file!).storeBytes(of: kind, toByteOffset: 16, as: Int32.self)
            file!.pointee.pMethods = UnsafePointer(SQLitePageTap.methods)
            return rc
        })
    }

    fileprivate func recordRead(kind: Int32, file: UnsafeMutablePointer<sqlite3_file>, buffer: UnsafeMutableRawPointer,
                                amount: Int32, offset: Int64) {
        // Pages are at least 512 bytes; shorter reads are headers and lock bytes.
        guard isRecording, amount >= 512 else { return }
        switch kind {
        case 1 where offset == 0:
            firstPage = Array(UnsafeRawBufferPointer(start: buffer, count: Int(amount)))
        case 2 where offset >= 32 + 24:
            // A WAL frame is a 24-byte header (page number first, big-endian) and the page.
            var header = [UInt8](repeating: 0, count: 4)
            let inner = SQLiteVFS.inner(file)
            let rc = header.withUnsafeMutableBytes { inner.pointee.pMethods.pointee.xRead!(inner, $0.baseAddress, 4, offset - 24) }
            if rc == SQLITE_OK, header == [0, 0, 0, 1] {
                firstPage = Array(UnsafeRawBufferPointer(start: buffer, count: Int(amount)))
            }
        default:
            break
        }
    }

    private static func kind(_ file: UnsafeMutablePointer<sqlite3_file>?) -> Int32 {
        UnsafeMutableRawPointer(file!).load(fromByteOffset: 16, as: Int32.self)
    }

    private static func m(_ file: UnsafeMutablePointer<sqlite3_file>?) -> (UnsafeMutablePointer<sqlite3_file>, sqlite3_io_methods) {
        let inner = SQLiteVFS.inner(file)
        return (inner, inner.pointee.pMethods.pointee)
    }

    /// Every method forwards to the wrapped file; xRead also records page 1.
    nonisolated(unsafe) static let methods: UnsafeMutablePointer<sqlite3_io_methods> = {
        var t = sqlite3_io_methods()
        t.iVersion = 3
        t.xClose = { f in let (i, m) = m(f); return m.xClose!(i) }
        t.xRead = { f, buffer, amount, offset in
            let (i, m) = m(f)
            let rc = m.xRead!(i, buffer, amount, offset)
            if rc == SQLITE_OK, let buffer {
                SQLiteVFS.owner(of: f, as: SQLitePageTap.self)
                    .recordRead(kind: kind(f), file: f!, buffer: buffer, amount: amount, offset: offset)
            }
            return rc
        }
        t.xWrite = { f, b, a, o in let (i, m) = m(f); return m.xWrite!(i, b, a, o) }
        t.xTruncate = { f, s in let (i, m) = m(f); return m.xTruncate!(i, s) }
        t.xSync = { f, s in let (i, m) = m(f); return m.xSync!(i, s) }
        t.xFileSize = { f, s in let (i, m) = m(f); return m.xFileSize!(i, s) }
        t.xLock = { f, l in let (i, m) = m(f); return m.xLock!(i, l) }
        t.xUnlock = { f, l in let (i, m) = m(f); return m.xUnlock!(i, l) }
        t.xCheckReservedLock = { f, r in let (i, m) = m(f); return m.xCheckReservedLock!(i, r) }
        t.xFileControl = { f, op, a in let (i, m) = m(f); return m.xFileControl!(i, op, a) }
        t.xSectorSize = { f in let (i, m) = m(f); return m.xSectorSize!(i) }
        t.xDeviceCharacteristics = { f in let (i, m) = m(f); return m.xDeviceCharacteristics!(i) }
        t.xShmMap = { f, p, s, e, pp in
            let (i, m) = m(f)
            return m.iVersion >= 2 ? m.xShmMap!(i, p, s, e, pp) : SQLITE_IOERR
        }
        t.xShmLock = { f, o, n, fl in
            let (i, m) = m(f)
            return m.iVersion >= 2 ? m.xShmLock!(i, o, n, fl) : SQLITE_IOERR
        }
        t.xShmBarrier = { f in let (i, m) = m(f); if m.iVersion >= 2 { m.xShmBarrier!(i) } }
        t.xShmUnmap = { f, d in
            let (i, m) = m(f)
            return m.iVersion >= 2 ? m.xShmUnmap!(i, d) : SQLITE_OK
        }
        // Memory-mapped reads would bypass xRead; declining them makes SQLite use xRead.
        t.xFetch = { _, _, _, pp in pp?.pointee = nil; return SQLITE_OK }
        t.xUnfetch = { f, o, p in
            let (i, m) = m(f)
            return m.iVersion >= 3 ? m.xUnfetch!(i, o, p) : SQLITE_OK
        }
        let p = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        p.initialize(to: t)
        return p
    }()
}
