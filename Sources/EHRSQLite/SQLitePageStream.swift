import CSQLite

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
