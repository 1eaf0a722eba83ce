import EHRTestSupport
import Foundation
import Testing

/// What a hostile tester puts where a SQLite source's database should be. Nothing that is not a
/// database is backed up as a success, nothing hangs, and `config check` says what is there.
@Suite struct SourceValidationTests {
    enum Hostile: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case fifo, devZero, devNull, zeroBytes, textFile, truncatedHeader, directory, linkToFIFO, procFile
        case noTables, hotJournal

        var testDescription: String { rawValue }

        /// What the one error line says the path is; nil for the sources that back up.
        var refusal: String? {
            switch self {
            case .fifo, .linkToFIFO: "a FIFO"
            case .devZero, .devNull: "a character device"
            case .zeroBytes: "zero bytes"
            case .textFile, .procFile: "not a SQLite database"
            case .truncatedHeader: "shorter than a SQLite header"
            case .directory: "a directory"
            case .noTables, .hotJournal: nil
            }
        }

        /// Puts the hostile thing in place and returns the path the config names.
        func make(in ws: Workspace) throws -> String {
            let path = ws.source
            try FileManager.default.removeItem(atPath: path)
            switch self {
            case .fifo:
                try #require(mkfifo(path, 0o600) == 0)
            case .devZero: return "/dev/zero"
            case .devNull: return "/dev/null"
            case .procFile: return "/proc/self/status"
            case .zeroBytes:
                try #require(FileManager.default.createFile(atPath: path, contents: Data()))
            case .textFile:
                try String(repeating: "2026-12-01 service started\n", count: 200)
                    .write(toFile: path, atomically: true, encoding: .utf8)
            case .truncatedHeader:
                // The right first 16 bytes, then nothing a database needs.
                let bytes = Array("SQLite format 3".utf8) + [UInt8](repeating: 0, count: 25)
                try #require(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            case .directory:
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            case .linkToFIFO:
                try #require(mkfifo(ws.dir.file("pipe"), 0o600) == 0)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: ws.dir.file("pipe"))
            case .noTables:
                // What an application creates when it opens a wrong path and sets its version.
                #expect(try Run.sqlite3(path, "PRAGMA user_version = 7;").status == 0)
                try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0 >= 100)
            case .hotJournal:
                try makeHotJournal(path)
            }
            return path
        }
    }

    @Test(arguments: Hostile.allCases) func backup(_ hostile: Hostile) throws {
        let ws = try Workspace()
        let reference = hostile == .hotJournal ? try Self.committedDump(ws) : nil
        let path = try hostile.make(in: ws)
        try Self.writeConfig(ws, path: path)
        let before = try Self.archiveState(ws)
        let r = try Self.runBounded(["backup"], ws)

        if let what = hostile.refusal {
            expectFailure(r, code: 66, mentions: ["source 'backend'", path, what, "'path' in the config"])
            #expect(try Self.archiveState(ws) == before)
            #expect(try ws.snapshotIDs().isEmpty)
            return
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ws.snapshotIDs().count == 1)
        switch hostile {
        case .noTables:
            let warning = r.stderr.split(separator: "\n").filter { $0.contains("warning") && $0.contains("no tables") }
            #expect(warning.count == 1, "no warning about an empty database: \(r.stderr)")
            #expect(warning.first?.contains("source=backend") == true, "\(r.stderr)")
        case .hotJournal:
            // The backup opens as a writer, so SQLite rolled the crashed transaction back first:
            // the snapshot holds the last committed state.
            #expect(!FileManager.default.fileExists(atPath: path + "-journal"))
            let copy = ws.dir.file("restored.sqlite")
            _ = try ws.ok(["restore", "latest", "--to", copy])
            #expect(try Run.dump(copy) == reference)
        default:
            Issue.record("no expectation for \(hostile)")
        }
    }

    @Test(arguments: Hostile.allCases) func configCheck(_ hostile: Hostile) throws {
        let ws = try Workspace()
        let path = try hostile.make(in: ws)
        try Self.writeConfig(ws, path: path)
        let journal = hostile == .hotJournal ? try Data(contentsOf: URL(fileURLWithPath: path + "-journal")) : nil
        let database = hostile == .hotJournal ? try Data(contentsOf: URL(fileURLWithPath: path)) : nil
        let r = try Self.runBounded(["config", "check"], ws)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let line = lines.first { $0.contains("backend (sqlite)") } ?? ""

        if let what = hostile.refusal {
            #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
            #expect(line.hasPrefix("FAIL backend (sqlite) \(path): "), "\(r.stdout)")
            #expect(line.contains(what), "\(r.stdout)")
            #expect(r.stderr.contains("a source is not usable"), "\(r.stderr)")
            return
        }
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(line.hasPrefix("ok   backend (sqlite) \(path): "), "\(r.stdout)")
        let warnings = lines.filter { $0.hasPrefix("warning: source 'backend': \(path) ") }
        switch hostile {
        case .noTables:
            #expect(line.contains(", 0 tables"), "\(r.stdout)")
            #expect(warnings.contains { $0.contains("no tables") }, "\(r.stdout)")
        case .hotJournal:
            #expect(warnings.contains { $0.contains("has a hot journal, which SQLite rolls back on the next open by a writer") },
                    "\(r.stdout)")
            // A check changes nothing: the journal is still there for the next writer to roll back.
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-journal")) == journal)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == database)
        default:
            Issue.record("no expectation for \(hostile)")
        }
    }

    // MARK: - Helpers

    static func writeConfig(_ ws: Workspace, path: String) throws {
        try """
        archive: \(ws.archive)
        sources:
          - name: backend
            kind: sqlite
            path: \(path)
        """.write(toFile: ws.config, atomically: true, encoding: .utf8)
    }

    /// The archive alone (the workspace may hold a FIFO, which reading would block on), without
    /// its lock files, whose content only says who held them.
    static func archiveState(_ ws: Workspace) throws -> TreeState {
        var state = try TreeState(ws.archive)
        state.entries["write.lock"] = nil
        state.entries["read.lock"] = nil
        // The run record a failed backup writes on purpose (docs/ARCHIVE-FORMAT.md, "Run records").
        state.entries["runs"] = nil
        state.entries["runs/backup.json"] = nil
        return state
    }

    /// The database the hot-journal case starts from, as `sqlite3 .dump` shows it.
    static func committedDump(_ ws: Workspace) throws -> String {
        let scratch = ws.dir.file("committed.sqlite")
        try Hostile.makeCommitted(scratch)
        return try Run.dump(scratch)
    }

    /// A child that has not ended after this long is hung (an open of a FIFO, a read of
    /// /dev/zero): coreutils' `timeout` kills it and the test fails. A bound on a hang, far above
    /// any real run, not a measure of speed.
    static let hangLimit = 60

    /// Runs `ehrdata` like `Workspace.run`, but never waits longer than `hangLimit`.
    static func runBounded(_ arguments: [String], _ ws: Workspace,
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessResult {
        let r = try Run.program("/usr/bin/timeout", ["--signal=KILL", "\(hangLimit)", Run.binary] + arguments,
                                environment: ["EHRDATA_CONFIG": ws.config])
        // `timeout --signal=KILL` kills its whole process group, itself included (status 9);
        // 124 and 137 are its other ways of saying so. ehrdata itself exits with none of these.
        if [9, 124, 137].contains(r.status) {
            Issue.record("ehrdata \(arguments.joined(separator: " ")) hung: killed after \(hangLimit) s",
                         sourceLocation: sourceLocation)
        }
        return r
    }
}

extension SourceValidationTests.Hostile {
    /// A rollback-journal database of 500 rows of 1,000 bytes, committed.
    static func makeCommitted(_ path: String) throws {
        let r = try Run.sqlite3(path, """
            PRAGMA journal_mode = DELETE;
            CREATE TABLE notes(id INTEGER PRIMARY KEY, body BLOB);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
            INSERT INTO notes(body) SELECT zeroblob(1000) FROM n;
            """)
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// A writer killed (SIGKILL) in the middle of a transaction big enough to spill changed pages
    /// into the database file: its `-journal` is hot, and the file holds a half-written change.
    func makeHotJournal(_ path: String) throws {
        try Self.makeCommitted(path)
        // sqlite3's .shell runs `sh -c`, whose parent is sqlite3 itself.
        let crash = try Run.sqlite3(path, """
            PRAGMA cache_size = 5;
            BEGIN;
            UPDATE notes SET body = randomblob(1000);
            .shell kill -9 $PPID
            COMMIT;
            """)
        try #require(crash.status == SIGKILL, "sqlite3 was not killed mid-transaction: \(crash.stderr)")
        let journal = try Data(contentsOf: URL(fileURLWithPath: path + "-journal"))
        // The journal header's magic is written when the journal is synced, before the first
        // changed page reaches the database: only then is the journal hot.
        try #require(Array(journal.prefix(8)) == [0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7])
    }
}
