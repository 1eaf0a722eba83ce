@testable import EHREngine
import EHRSQLite
import EHRTestSupport
import Foundation
import Logging
import Testing

/// Migrate reads a live WAL database in place through several connections; they must all see one
/// commit. A writer commits back to back meanwhile, so connections that started their read
/// transactions unguarded would see different commits.
@Suite struct LivePinTests {
    /// Commits `INSERT INTO a` in a tight loop until stopped.
    final class Writer: @unchecked Sendable { // `lock` guards `stopping` and `failure`
        private let lock = NSLock()
        private var stopping = false
        private(set) var failure: String?
        private let done = DispatchSemaphore(value: 0)

        init(_ path: String) {
            Thread.detachNewThread { [self] in
                defer { done.signal() }
                do {
                    let db = try SQLiteConnection(path: path, mode: .readWrite)
                    var i = 0
                    while !lock.withLock({ stopping }) {
                        i += 1
                        try db.execute("INSERT INTO a (n) VALUES (\(i))")
                    }
                } catch {
                    lock.withLock { failure = "\(error)" }
                }
            }
        }

        func stop() {
            lock.withLock { stopping = true }
            done.wait()
        }
    }

    @Test func everyReaderSeesTheSameCommitWhileAWriterCommits() throws {
        let dir = TempDirectory("ehrdata-livepin")
        let path = dir.file("live.sqlite")
        let setup = try SQLiteConnection(path: path, mode: .create)
        try setup.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER)")
        let writer = Writer(path)
        defer { writer.stop() }
        var committed = try setup.integer("SELECT count(*) FROM a")
        for _ in 0..<200 where committed < 100 { usleep(1000); committed = try setup.integer("SELECT count(*) FROM a") }
        try #require(committed >= 100, "the writer did not start: \(writer.failure ?? "")")

        var moments: Set<Int64> = []
        for round in 0..<40 {
            let readers = try #require(try LivePin.readers(of: path, count: 6, logger: Logger(label: "test")),
                                       "round \(round): the live database was not pinned")
            let counts = try readers.map { try $0.integer("SELECT count(*) FROM a") }
            #expect(Set(counts).count == 1, "round \(round): the readers saw different commits: \(counts)")
            moments.insert(counts[0])
        }
        // The writer kept committing between the rounds: the pins were taken while it wrote.
        #expect(moments.count > 1, "every round saw the same commit: the writer did not write throughout")
        #expect(writer.failure == nil, "the writer failed: \(writer.failure ?? "")")
    }

    @Test func aRollbackJournalDatabaseIsNotPinnedInPlace() throws {
        let dir = TempDirectory("ehrdata-livepin")
        let path = dir.file("journal.sqlite")
        let setup = try SQLiteConnection(path: path, mode: .create)
        try setup.execute("PRAGMA journal_mode = DELETE; CREATE TABLE a (n INTEGER); INSERT INTO a VALUES (1)")
        #expect(try LivePin.readers(of: path, count: 2, logger: Logger(label: "test")) == nil)
    }
}
