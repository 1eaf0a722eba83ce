import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

@Suite struct SQLitePageStreamTests {
    /// A WAL database whose page 1 lives in the WAL (no checkpoint), and a writer that keeps
    /// committing, including schema changes that rewrite page 1, while the stream runs.
    @Test func streamIsTheReadTransactionsSnapshotAndMatchesTheBackupAPICopy() throws {
        let dir = TempDirectory()
        let path = dir.file("src.sqlite")
        let writer = try SQLiteConnection(path: path, mode: .create)
        try writer.execute("""
            PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
            CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
            INSERT INTO t(body) SELECT randomblob(500) FROM c;
            """)
        let tap = try SQLitePageTap()
        let reader = try SQLiteConnection(path: path, mode: .readOnly, vfs: tap)
        try reader.execute("BEGIN")
        #expect(try reader.integer("SELECT count(*) FROM t") == 3000)
        let pageCount = try reader.pageCount

        var streamed: [UInt8] = []
        var commits = 0
        try SQLitePageStream.copy(from: reader, tap: tap, pagesPerStep: 64) { page in
            streamed.append(contentsOf: page)
            if streamed.count % (100 * 1024) == 0 {
                commits += 1
                try writer.execute("""
                    INSERT INTO t(body) VALUES (randomblob(3000));
                    CREATE TABLE extra\(commits)(x); PRAGMA user_version = \(commits);
                    """)
            }
        }
        #expect(commits >= 10)
        #expect(streamed.count == pageCount * 1024)

        // The backup API's own copy of the same read transaction, for comparison.
        let copyPath = dir.file("copy.sqlite")
        let copy = try SQLiteConnection(path: copyPath, mode: .create)
        try SQLiteBackup(from: reader, to: copy).run()
        try reader.execute("COMMIT")
        let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: copyPath)))
        #expect(reference.count == streamed.count)
        // Only the fields a backup rewrites differ: change counter, schema cookie,
        // version-valid-for and library version.
        let differing = Set(zip(reference, streamed).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset))
        #expect(differing.isSubset(of: Set(Array(24..<28) + Array(40..<44) + Array(92..<100))))

        let streamedPath = dir.file("streamed.sqlite")
        try Data(streamed).write(to: URL(fileURLWithPath: streamedPath))
        let result = try SQLiteConnection(path: streamedPath, mode: .immutable)
        #expect(try result.integrityProblems().isEmpty)
        #expect(try result.integer("SELECT count(*) FROM t") == 3000)
        #expect(try result.integer("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'extra%'") == 0)
        #expect(try writer.integer("SELECT count(*) FROM t") == 3000 + Int64(commits))
    }

    @Test func withoutPageOneFromTheTapNothingIsStreamed() throws {
        let dir = TempDirectory()
        let path = dir.file("src.sqlite")
        try SQLiteConnection(path: path, mode: .create).execute("PRAGMA journal_mode = WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        let tap = try SQLitePageTap()
        tap.isRecording = false
        let reader = try SQLiteConnection(path: path, mode: .readOnly, vfs: tap)
        try reader.execute("BEGIN")
        _ = try reader.integer("SELECT count(*) FROM t")
        var delivered = 0
        #expect(throws: SQLitePageStream.NotStreamable.self) {
            try SQLitePageStream.copy(from: reader, tap: tap) { _ in delivered += 1 }
        }
        #expect(delivered == 0)
    }

    /// The end-of-copy check: a page 1 from an earlier read transaction (here kept on purpose by
    /// turning the tap off before a schema change) differs from the one the backup writes.
    @Test func aStalePageOneIsCaughtWhenTheBackupWritesItsOwn() throws {
        let dir = TempDirectory()
        let path = dir.file("src.sqlite")
        let writer = try SQLiteConnection(path: path, mode: .create)
        try writer.execute("""
            PRAGMA journal_mode = WAL; CREATE TABLE t(x);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500)
            INSERT INTO t SELECT randomblob(400) FROM c;
            """)
        let tap = try SQLitePageTap()
        let reader = try SQLiteConnection(path: path, mode: .readOnly, vfs: tap)
        try reader.execute("BEGIN")
        _ = try reader.integer("SELECT count(*) FROM t")
        try reader.execute("COMMIT")
        #expect(tap.firstPage != nil)
        tap.isRecording = false
        try writer.execute("CREATE TABLE added(y)")
        try reader.execute("BEGIN")
        _ = try reader.integer("SELECT count(*) FROM added")

        var delivered = 0
        do {
            try SQLitePageStream.copy(from: reader, tap: tap) { _ in delivered += 1 }
            Issue.record("a stale page 1 went unnoticed")
        } catch let error as SQLitePageStream.NotStreamable {
            #expect(error.reason.contains("page 1"))
        }
        #expect(delivered > 10)
    }

    /// SQLite never writes the page holding its lock byte at 1 GiB; the stream must deliver the
    /// zeros a copied file holds there, and every page after it in place.
    @Test func aDatabaseOverOneGiBStreamsAcrossTheLockBytePage() throws {
        let dir = TempDirectory()
        let path = dir.file("big.sqlite")
        let db = try SQLiteConnection(path: path, mode: .create)
        try db.execute("""
            PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);
            INSERT INTO t(body) VALUES (zeroblob(600000000)), (zeroblob(500000000));
            INSERT INTO t(body) VALUES (randomblob(100000));
            PRAGMA journal_mode = WAL;
            """)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size > (1 << 30) + 65536)

        let tap = try SQLitePageTap()
        let reader = try SQLiteConnection(path: path, mode: .readOnly, vfs: tap)
        try reader.execute("BEGIN")
        _ = try reader.integer("SELECT count(*) FROM t")
        // The database file is fully checkpointed, so the stream must equal it byte for byte.
        let file = try #require(FileHandle(forReadingAtPath: path))
        var offset = 0
        var mismatches = 0
        try SQLitePageStream.copy(from: reader, tap: tap) { page in
            if Data(page) != file.readData(ofLength: page.count) { mismatches += 1 }
            offset += page.count
        }
        try reader.execute("COMMIT")
        #expect(mismatches == 0)
        #expect(offset == size)
    }
}
