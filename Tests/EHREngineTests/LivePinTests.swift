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
    @Test func everyReaderSeesTheSameCommitWhileAWriterCommits() throws {
        let dir = TempDirectory("ehrdata-livepin")
        let path = dir.file("live.sqlite")
        let setup = try SQLiteConnection(path: path, mode: .create)
        try setup.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER)")
        let writer = CommittingWriter(path) { "INSERT INTO a (n) VALUES (\($0))" }
        defer { writer.stop() }
        var committed = try setup.integer("SELECT count(*) FROM a")
        // Started and committing: bounded by iterations, not by time (a loaded machine is slow).
        for _ in 0..<3000 where committed < 20 { usleep(5000); committed = try setup.integer("SELECT count(*) FROM a") }
        try #require(committed >= 20, "the writer did not start: \(writer.failure ?? "")")

        var moments: Set<Int64> = []
        for round in 0..<40 {
            let readers = try #require(try LivePin.readers(of: path, count: 6, logger: Logger(label: "test")),
                                       "round \(round): the live database was not pinned")
            let counts = try readers.map { try $0.integer("SELECT count(*) FROM a") }
            #expect(Set(counts).count == 1, "round \(round): the readers saw different commits: \(counts)")
            moments.insert(counts[0])
            // Let the writer commit past this pin before the next one (the gate can starve its
            // busy handler on a loaded machine): every pin is then taken while it writes.
            var now = try setup.integer("SELECT count(*) FROM a")
            for _ in 0..<3000 where now <= counts[0] { usleep(2000); now = try setup.integer("SELECT count(*) FROM a") }
            try #require(now > counts[0], "round \(round): the writer stopped committing: \(writer.failure ?? "")")
        }
        #expect(moments.count == 40, "rounds that saw the same commit: the writer did not write throughout")
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
