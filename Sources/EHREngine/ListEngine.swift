import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata list`: published snapshots, newest first. A snapshot whose manifest cannot be read
/// is still listed, marked damaged, so an operator sees it.
public struct ListEngine {
    public let archive: Archive
    public let logger: Logger
    public var lockWait: TimeInterval
    /// The config's SQLite paths, so that an interrupted in-place restore can be undone.
    public var sqlitePaths: [String: String] = [:]

    public init(archive: Archive, logger: Logger, lockWait: TimeInterval = 0) {
        self.archive = archive
        self.logger = logger
        self.lockWait = lockWait
    }

    public struct Entry: Codable, Sendable {
        public var id: String
        public var startedAt: String?
        public var finishedAt: String?
        public var sources: [SourceEntry]
        public var compressedSize: Int64
        public var uncompressedSize: Int64
        /// nil when readable; otherwise why the manifest could not be read.
        public var problem: String?
        /// With a `problem`: the manifest is of a format this ehrdata does not read (newer
        /// version), rather than damaged.
        public var unsupportedFormat: Bool?
        /// The last verify's outcome, if one was recorded. Left out when the snapshot is found
        /// damaged now and that record said ok: an older ok never stands beside a damage.
        public var lastVerify: VerifyRecord?
        /// The legal hold on this snapshot, if any ('ehrdata hold').
        public var hold: Hold?
    }

    public struct SourceEntry: Codable, Sendable {
        public var name: String
        public var kind: String
        public var compressedSize: Int64
        public var uncompressedSize: Int64
        /// The backup found the source itself damaged (integrity_check, or tables gone or shrunk).
        public var sourceDamaged: Bool
    }

    public func run() throws -> [Entry] {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "list", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        IntentRecovery(archive: archive, logger: logger, sqlitePaths: sqlitePaths).run(holdingWriteLock: false)
        let holds = archive.holds()
        return try archive.snapshotIDs(ignored: { Warnings.notASnapshot($0, logger) }).reversed().map { id in
            let record = VerifyRecord.load(from: archive, id: id)
            do {
                let m = try archive.manifest(of: id)
                return Entry(id: id.rawValue, startedAt: m.startedAt, finishedAt: m.finishedAt,
                             sources: m.sources.map {
                                 SourceEntry(name: $0.name, kind: $0.kind.rawValue,
                                             compressedSize: $0.compressedSize, uncompressedSize: $0.uncompressedSize,
                                             sourceDamaged: $0.sourceDamaged)
                             },
                             compressedSize: m.compressedSize, uncompressedSize: m.uncompressedSize,
                             problem: nil, lastVerify: record, hold: holds[id.rawValue])
            } catch {
                let e = error as? EHRError
                return Entry(id: id.rawValue, startedAt: id.date.map(Timestamp.iso8601), finishedAt: nil,
                             sources: [], compressedSize: 0, uncompressedSize: 0,
                             problem: e?.message ?? "\(error)", unsupportedFormat: e?.kind == .unsupportedFormat,
                             lastVerify: record?.ok == true || e?.kind == .unsupportedFormat ? nil : record,
                             hold: holds[id.rawValue])
            }
        }
    }
}

/// Warnings more than one command gives.
public enum Warnings {
    /// An entry of `snapshots/` that is not a snapshot: never listed, never `latest`.
    public static func notASnapshot(_ name: String, _ logger: Logger) {
        logger.warning("ignoring an entry of snapshots/ that is not a snapshot (not a snapshot id, or not a directory)",
                       metadata: ["entry": "\(name)"])
    }
}
