import EHRArchive
import EHRCore
import Foundation

/// `ehrdata list`: published snapshots, newest first. A snapshot whose manifest cannot be read
/// is still listed, marked damaged, so an operator sees it.
public struct ListEngine {
    public let archive: Archive
    public var lockWait: TimeInterval

    public init(archive: Archive, lockWait: TimeInterval = 0) {
        self.archive = archive
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
        /// The last verify's outcome, if one was recorded.
        public var lastVerify: VerifyRecord?
    }

    public struct SourceEntry: Codable, Sendable {
        public var name: String
        public var kind: String
        public var compressedSize: Int64
        public var uncompressedSize: Int64
    }

    public func run() throws -> [Entry] {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "list", wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        return try archive.snapshotIDs().reversed().map { id in
            let record = VerifyRecord.load(from: archive, id: id)
            do {
                let m = try archive.manifest(of: id)
                return Entry(id: id.rawValue, startedAt: m.startedAt, finishedAt: m.finishedAt,
                             sources: m.sources.map {
                                 SourceEntry(name: $0.name, kind: $0.kind.rawValue,
                                             compressedSize: $0.compressedSize, uncompressedSize: $0.uncompressedSize)
                             },
                             compressedSize: m.compressedSize, uncompressedSize: m.uncompressedSize,
                             problem: nil, lastVerify: record)
            } catch {
                return Entry(id: id.rawValue, startedAt: id.date.map(Timestamp.iso8601), finishedAt: nil,
                             sources: [], compressedSize: 0, uncompressedSize: 0,
                             problem: "\(error)", lastVerify: record)
            }
        }
    }
}
