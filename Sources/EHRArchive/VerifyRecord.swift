import EHRCore
import Foundation

/// `verify.json` beside a snapshot: the outcome of its last verify. Replaced atomically; the
/// only file that changes after a snapshot is published.
public struct VerifyRecord: Codable, Sendable, Equatable {
    public var verifiedAt: String
    public var depth: String
    public var ok: Bool
    public var problems: [String]

    public init(verifiedAt: String, depth: String, ok: Bool, problems: [String]) {
        self.verifiedAt = verifiedAt
        self.depth = depth
        self.ok = ok
        self.problems = problems
    }

    /// The record, or nil if there is none or it cannot be read (a link, too large, not JSON).
    public static func load(from archive: Archive, id: SnapshotID) -> VerifyRecord? {
        guard let data = try? archive.readFile(Archive.snapshotEntry(id, Archive.verifyRecordName), limit: 1 << 20) else {
            return nil
        }
        return try? JSONDecoder().decode(VerifyRecord.self, from: Data(data))
    }

    /// Replaces the record atomically inside the snapshot's own directory, never through a link.
    public func save(to archive: Archive, id: SnapshotID) throws {
        try archive.writeFileAtomically(try JSONCoding.encode(self), to: Archive.snapshotEntry(id, Archive.verifyRecordName))
    }
}
