import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

@Suite struct SQLiteAdapterTests {
    @Test func missingFileIsCantOpenWithHint() {
        let dir = TempDirectory()
        do {
            _ = try SQLiteConnection(path: dir.file("nope.sqlite"), mode: .readOnly)
            Issue.record("opened a missing file")
        } catch let e as SQLiteError {
            #expect(e.isCantOpen)
            #expect(e.hint.contains("exists"))
        } catch { Issue.record("\(error)") }
        #expect(!FileManager.default.fileExists(atPath: dir.file("nope.sqlite")))
    }

    @Test func fileThatIsNotADatabase() throws {
        let dir = TempDirectory()
        try dir.write(String(repeating: "not a database\n", count: 100), to: "x.sqlite")
        let db = try SQLiteConnection(path: dir.file("x.sqlite"), mode: .readOnly)
        do {
            _ = try db.tableNames()
            Issue.record("read a text file as a database")
        } catch let e as SQLiteError {
            #expect(e.isNotADatabase)
        }
    }

    @Test func backupWithHeldReadTransactionCopiesThatSnapshotWhileAnotherConnectionWrites() throws {
        let dir = TempDirectory()
        let path = dir.file("src.sqlite")
        let writer = try SQLiteConnection(path: path, mode: .create)
        try writer.execute("""
            PRAGMA page_size = 1024; PRAGMA journal_mode = WAL;
            CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
            INSERT INTO t(body) SELECT randomblob(500) FROM c;
            """)
        let reader = try SQLiteConnection(path: path, mode: .readOnly)
        try reader.execute("BEGIN")
        #expect(try reader.integer("SELECT count(*) FROM t") == 2000)

        let copy = try SQLiteConnection(path: dir.file("copy.sqlite"), mode: .create)
        let backup = try SQLiteBackup(from: reader, to: copy)
        var steps = 0
        while try !backup.step(pages: 50) {
            // A foreign commit between steps: with the read transaction held it neither restarts
            // the copy nor shows up in it.
            try writer.execute("INSERT INTO t(body) VALUES (randomblob(500))")
            steps += 1
        }
        try backup.finish()
        try reader.execute("COMMIT")
        #expect(steps > 5)
        #expect(try writer.integer("SELECT count(*) FROM t") == 2000 + Int64(steps))
        #expect(try copy.integer("SELECT count(*) FROM t") == 2000)
        #expect(try copy.integrityProblems().isEmpty)
        #expect(try copy.pageSize == 1024)
    }

    @Test func infoReadsPragmasAndCounts() throws {
        let dir = TempDirectory()
        let db = try SQLiteConnection(path: dir.file("a.sqlite"), mode: .create)
        let odd = SQLiteConnection.quoteIdentifier("odd \"name")
        try db.execute("PRAGMA user_version = 42; CREATE TABLE \(odd)(x); INSERT INTO \(odd) VALUES (1), (2);")
        try db.execute("CREATE TABLE b(y); CREATE VIRTUAL TABLE f USING fts5(z);")
        #expect(try db.userVersion == 42)
        #expect(try db.journalMode == "delete")
        let counts = try db.tableRowCounts()
        #expect(counts.map(\.name).contains("odd \"name"))
        #expect(counts.first { $0.name == "odd \"name" }?.rows == 2)
        #expect(!counts.map(\.name).contains("f"))
    }
}
