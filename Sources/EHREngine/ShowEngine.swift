import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata show SNAPSHOT`: what one snapshot holds, from its manifest and verify record, to
/// choose the snapshot to restore: per source the tables with their row counts (and for
/// PostgreSQL the sequences), sizes, the backup's own check of the source, and the verdict.
public struct ShowEngine {
    public let archive: Archive
    public let logger: Logger
    public var lockWait: TimeInterval
    public var sqlitePaths: [String: String] = [:]

    public init(archive: Archive, logger: Logger, lockWait: TimeInterval = 0) {
        self.archive = archive
        self.logger = logger
        self.lockWait = lockWait
    }

    public struct Result: Codable, Sendable {
        public var id: String
        public var startedAt: String
        public var finishedAt: String
        public var host: String
        public var tool: String
        public var compressedSize: Int64
        public var uncompressedSize: Int64
        public var sources: [SourceView]
        /// The verify verdict (with its depth) and the latest result at each depth; nil: never verified.
        public var verify: VerifyRecord?
        /// Legal holds on the snapshot; none can be placed yet (they come with `prune`).
        public var holds: [String]
    }

    public struct SourceView: Codable, Sendable {
        public var name: String
        public var kind: String
        public var compressedSize: Int64
        public var uncompressedSize: Int64
        /// SQLite: the path it was backed up from, journal mode, page size and count.
        public var sqlite: SQLiteView?
        /// PostgreSQL: database, server version, the snapshot's WAL position.
        public var postgres: PostgresView?
        public var tables: [Table]
        public var sequences: [Sequence]?
        /// The backup's check of the source itself; nil in snapshots from before that check.
        public var sourceCheck: Manifest.SourceCheck?
    }

    public struct SQLiteView: Codable, Sendable {
        public var path: String
        public var journalMode: String
        public var pageSize: Int
        public var pageCount: Int
        public var userVersion: Int
    }

    public struct PostgresView: Codable, Sendable {
        public var database: String
        public var serverVersion: String
        public var walLSN: String
        public var roles: Int?
    }

    public struct Table: Codable, Sendable {
        public var name: String
        /// nil: the backup could not count it (its pages are damaged; see `sourceCheck`).
        public var rows: Int64?
    }

    public struct Sequence: Codable, Sendable {
        public var name: String
        public var lastValue: String
    }

    public func run(_ selector: SnapshotSelector) throws -> Result {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "show", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        IntentRecovery(archive: archive, logger: logger, sqlitePaths: sqlitePaths).run(holdingWriteLock: false)
        let id = try archive.resolve(selector)
        let m = try archive.manifest(of: id)
        return Result(id: id.rawValue, startedAt: m.startedAt, finishedAt: m.finishedAt, host: m.host,
                      tool: "\(m.tool.name) \(m.tool.version)", compressedSize: m.compressedSize,
                      uncompressedSize: m.uncompressedSize, sources: m.sources.map(Self.view),
                      verify: VerifyRecord.load(from: archive, id: id), holds: [])
    }

    static func view(_ s: Manifest.Source) -> SourceView {
        var view = SourceView(name: s.name, kind: s.kind.rawValue, compressedSize: s.compressedSize,
                              uncompressedSize: s.uncompressedSize, tables: [], sourceCheck: s.sourceCheck)
        if let info = s.sqlite {
            view.sqlite = SQLiteView(path: info.path, journalMode: info.journalMode, pageSize: info.pageSize,
                                     pageCount: info.pageCount, userVersion: info.userVersion)
            view.tables = info.tables.map { Table(name: $0.name, rows: $0.rows) }
            // A table the backup could not count is not in the counts, only in the findings:
            // listed too, since choosing a snapshot means looking for a table by name.
            let uncounted = (s.sourceCheck?.problems ?? []).compactMap { problem -> String? in
                guard problem.hasPrefix("table "), let end = problem.range(of: " cannot be counted") else { return nil }
                return String(problem[problem.index(problem.startIndex, offsetBy: 6)..<end.lowerBound])
            }
            view.tables = (view.tables + uncounted.map { Table(name: $0, rows: nil) }).sorted { $0.name < $1.name }
        }
        if let info = s.postgres {
            view.postgres = PostgresView(database: info.database, serverVersion: info.serverVersion, walLSN: info.walLSN,
                                         roles: info.roles?.count)
            view.tables = info.tables.map { Table(name: "\($0.schema).\($0.name)", rows: $0.rows) }
            view.sequences = info.sequences.map { Sequence(name: "\($0.schema).\($0.name)", lastValue: $0.lastValue) }
        }
        return view
    }
}
