import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

/// A separate `sqlite3` process keeps committing while `ehrdata backup` runs. Each transaction
/// inserts one event and bumps a counter, so `count(events) == counter` in every consistent copy.
@Suite(.serialized) struct ConcurrentWriterTests {
    /// Feeds transactions to a `sqlite3` process until stopped.
    final class Writer: @unchecked Sendable { // the flag is guarded by `lock`
        let process = Process()
        let input = Pipe()
        private let lock = NSLock()
        private var stopped = false
        private let done = DispatchSemaphore(value: 0)

        init(database: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = ["-batch", database]
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let handle = input.fileHandleForWriting
            handle.write(Data(".timeout 30000\nPRAGMA synchronous = NORMAL;\n".utf8))
            let batch = String(repeating: """
                BEGIN IMMEDIATE; INSERT INTO events(at) VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now'));
                UPDATE counter SET n = n + 1; COMMIT;\n
                """, count: 20)
            Thread.detachNewThread { [self] in
                while !isStopped { handle.write(Data(batch.utf8)) }
                try? handle.close()
                done.signal()
            }
        }

        var isStopped: Bool { lock.withLock { stopped } }

        func stop() {
            lock.withLock { stopped = true }
            done.wait()
            process.waitUntilExit()
        }
    }

    static func counter(_ path: String) throws -> Int64 {
        try SQLiteConnection(path: path, mode: .readOnly).integer("SELECT n FROM counter")
    }

    static func makeBusyDatabase(_ path: String) throws {
        let r = try Run.sqlite3(path, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE counter(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
            INSERT INTO counter VALUES (1, 0);
            CREATE TABLE events(id INTEGER PRIMARY KEY, at TEXT NOT NULL);
            CREATE TABLE filler(id INTEGER PRIMARY KEY, body TEXT);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 13000)
            INSERT INTO filler(body) SELECT hex(randomblob(2000)) FROM c;
            """)
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// With `refuseStream` the streamed copy gives up part way (a test hook), so the fallback
    /// through a scratch file takes the same snapshot after a partial data file was discarded.
    @Test(arguments: [false, true], 1...3)
    func snapshotIsConsistentWhileAWriterCommits(refuseStream: Bool, _ repetition: Int) throws {
        let seed = TempDirectory()
        try Self.makeBusyDatabase(seed.file("busy.sqlite"))
        let ws = try Workspace(database: seed.file("busy.sqlite"))
        #expect(try FileManager.default.attributesOfItem(atPath: ws.source)[.size] as! Int >= 50_000_000)

        let writer = try Writer(database: ws.source)
        // Wait (by progress, not by time) until the writer is committing.
        var spins = 0
        while try Self.counter(ws.source) < 100, spins < 1_000_000 { spins += 1 }
        let atStart = try Self.counter(ws.source)
        let backup = try ws.run(["backup", "--log-level", "info"],
                                environment: refuseStream ? ["EHRDATA_TEST_STREAM_REFUSE_AFTER_PAGES": "2000"] : [:])
        let atEnd = try Self.counter(ws.source)
        writer.stop()
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stderr.contains("streamed=\(!refuseStream)"), "\(backup.stderr)")
        #expect(backup.stderr.contains("copying through a scratch file instead") == refuseStream)

        let restored = ws.dir.file("restored.sqlite")
        _ = try ws.ok(["restore", "latest", "--to", restored])
        let copy = try SQLiteConnection(path: restored, mode: .readOnly)
        let inSnapshot = try copy.integer("SELECT n FROM counter")
        #expect(try copy.integer("SELECT count(*) FROM events") == inSnapshot, "invariant broken in the snapshot")
        #expect(try copy.integrityProblems().isEmpty)
        #expect(atStart < inSnapshot, "the snapshot predates the backup's start")
        #expect(inSnapshot < atEnd, "the writer did not commit during the backup")

        // The manifest's row count was taken in the same read transaction as the copy.
        let id = try #require(try ws.snapshotIDs().last)
        let sqlite = (try ws.manifestJSON(id)["sources"] as! [[String: Any]])[0]["sqlite"] as! [String: Any]
        let events = (sqlite["tables"] as! [[String: Any]]).first { $0["name"] as? String == "events" }
        #expect("\(events?["rows"] ?? "")" == "\(inSnapshot)")
    }
}
