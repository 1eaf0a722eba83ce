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

    public static func load(from archive: Archive, id: SnapshotID) -> VerifyRecord? {
        let path = archive.snapshotDirectory(id) + "/" + Archive.verifyRecordName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(VerifyRecord.self, from: data)
    }

    public func save(to archive: Archive, id: SnapshotID) throws {
        try FileSystem.atomicWrite(try JSONCoding.encode(self),
                                   to: archive.snapshotDirectory(id) + "/" + Archive.verifyRecordName)
    }
}
