import EHRCore
import Foundation

/// `runs/backup.json`: per source, the outcome of the last backup that tried it, so that a failed
/// backup (which publishes nothing) still shows in `status` and the metrics
/// (docs/ARCHIVE-FORMAT.md, "Run records").
public struct RunRecord: Codable, Sendable, Equatable {
    public static let format = "ehrdata-runs"
    public static let newestVersion = 1
    static let directory = "runs"
    static let sizeLimit = 1 << 20

    public struct Outcome: Codable, Sendable, Equatable {
        public var startedAt: String
        public var finishedAt: String
        /// Published, and the source found undamaged.
        public var ok: Bool
        /// The published snapshot, if there is one.
        public var snapshot: String?
        public init(startedAt: String, finishedAt: String, ok: Bool, snapshot: String?) {
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.ok = ok
            self.snapshot = snapshot
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(startedAt, forKey: .startedAt)
            try c.encode(finishedAt, forKey: .finishedAt)
            try c.encode(ok, forKey: .ok)
            try c.encode(snapshot, forKey: .snapshot) // written as null, not left out
        }
    }

    public var format = RunRecord.format
    public var version = RunRecord.newestVersion
    public var sources: [String: Outcome]

    public init(sources: [String: Outcome] = [:]) { self.sources = sources }

    /// The backup record, or an empty one if there is none or it cannot be read.
    public static func loadBackup(from archive: Archive) -> RunRecord {
        guard let bytes = try? archive.readFile(directory + "/backup.json", limit: sizeLimit),
              let header = try? JSONDecoder().decode(FormatHeader.self, from: Data(bytes)),
              header.format == format, header.version <= newestVersion,
              let record = try? JSONDecoder().decode(RunRecord.self, from: Data(bytes)) else { return RunRecord() }
        return record
    }

    /// Merges `outcomes` into the backup record and replaces it atomically.
    public static func recordBackup(_ outcomes: [String: Outcome], in archive: Archive) throws {
        var record = loadBackup(from: archive)
        for (name, outcome) in outcomes { record.sources[name] = outcome }
        try FileSystem.makeDirectory(archive.root + "/" + directory)
        try archive.writeFileAtomically(try JSONCoding.encode(record), to: directory + "/backup.json")
    }
}
