import Foundation

/// The archive-format version this build reads and writes. See docs/ARCHIVE-FORMAT.md.
public enum ArchiveFormat {
    /// The archive marker's version (the directory layout).
    public static let version = 1
    /// The newest manifest version this build reads. Version 2 adds `hashedColumns` to
    /// PostgreSQL tables; a writer uses the lowest version that describes its snapshot.
    public static let manifestVersion = 2
    public static let markerFormat = "ehrdata-archive"
    public static let manifestFormat = "ehrdata-manifest"
}

/// `manifest.json`: what one snapshot holds. The field names are the format; see
/// docs/ARCHIVE-FORMAT.md before renaming anything.
public struct Manifest: Codable, Sendable, Equatable {
    public var format: String = ArchiveFormat.manifestFormat
    public var version: Int = ArchiveFormat.version
    public var snapshotID: SnapshotID
    public var tool: Tool
    public var host: String
    public var startedAt: String
    public var finishedAt: String
    public var sources: [Source]
    /// The run that made it (`RunID`); nil in snapshots made before runs had ids.
    public var runID: String?

    public init(snapshotID: SnapshotID, tool: Tool, host: String, startedAt: String,
                finishedAt: String, sources: [Source]) {
        self.snapshotID = snapshotID
        self.tool = tool
        self.host = host
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.sources = sources
        runID = RunID.current
        version = Self.lowestVersion(describing: sources)
    }

    /// Version 2 only when a table hashes binary columns by value, so older readers keep
    /// reading every snapshot they would read correctly.
    public static func lowestVersion(describing sources: [Source]) -> Int {
        let hashes = sources.contains { $0.postgres?.tables.contains { !($0.hashedColumns ?? []).isEmpty } == true }
        return hashes ? 2 : 1
    }

    public struct Tool: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public init(name: String = "ehrdata", version: String) {
            self.name = name
            self.version = version
        }
    }

    public struct Source: Codable, Sendable, Equatable {
        public var name: String
        public var kind: SourceKind
        public var sqlite: SQLiteInfo?
        public var postgres: PostgresInfo?
        public var files: [File]
        /// What the backup found about the source itself (not the copy); nil in older snapshots.
        public var sourceCheck: SourceCheck?

        public init(name: String, kind: SourceKind, sqlite: SQLiteInfo? = nil, postgres: PostgresInfo? = nil,
                    files: [File], sourceCheck: SourceCheck? = nil) {
            self.name = name
            self.kind = kind
            self.sqlite = sqlite
            self.postgres = postgres
            self.files = files
            self.sourceCheck = sourceCheck
        }

        /// The backup found the source itself damaged (the snapshot holds that damage).
        public var sourceDamaged: Bool { sourceCheck?.ok == false }

        public var compressedSize: Int64 { files.map(\.compressed.size).saturatingSum() }
        public var uncompressedSize: Int64 { files.map(\.uncompressed.size).saturatingSum() }
    }

    public struct SQLiteInfo: Codable, Sendable, Equatable {
        public var path: String
        public var libraryVersion: String
        public var pageSize: Int
        public var pageCount: Int
        public var userVersion: Int
        public var journalMode: String
        public var consistency: String
        public var tables: [TableCount]

        public init(path: String, libraryVersion: String, pageSize: Int, pageCount: Int,
                    userVersion: Int, journalMode: String, consistency: String,
                    tables: [TableCount]) {
            self.path = path
            self.libraryVersion = libraryVersion
            self.pageSize = pageSize
            self.pageCount = pageCount
            self.userVersion = userVersion
            self.journalMode = journalMode
            self.consistency = consistency
            self.tables = tables
        }
    }

    /// docs/ARCHIVE-FORMAT.md, `sources[].sourceCheck`.
    public struct SourceCheck: Codable, Sendable, Equatable {
        public static let integrityCheck = "integrity_check"
        public static let previousSnapshot = "previous-snapshot"
        public static let maxProblems = 20
        public static let maxProblemLength = 300

        public var method: String
        /// For `previous-snapshot`: the snapshot compared with.
        public var against: String?
        public var ok: Bool
        public var problems: [String]

        public init(method: String, against: String? = nil, problems: [String]) {
            self.method = method
            self.against = against
            // One line each (SQLite starts its first finding with "*** in database main ***\n").
            self.problems = problems.prefix(Self.maxProblems).map {
                String($0.replacingOccurrences(of: "\n", with: " ").prefix(Self.maxProblemLength))
            }
            ok = problems.isEmpty
        }
    }

    public struct TableCount: Codable, Sendable, Equatable {
        public var name: String
        public var rows: Int64
        public init(name: String, rows: Int64) {
            self.name = name
            self.rows = rows
        }
    }

    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var role: String
        public var codec: String
        /// Always nil in format version 1; a reader refuses anything else.
        public var encryption: String?
        public var compressed: Digest
        public var uncompressed: Digest
        public var members: [Member]

        public init(path: String, role: String, codec: String = "gzip", compressed: Digest,
                    uncompressed: Digest, members: [Member]) {
            self.path = path
            self.role = role
            self.codec = codec
            self.encryption = nil
            self.compressed = compressed
            self.uncompressed = uncompressed
            self.members = members
        }

        // Write `"encryption": null` explicitly: the field's presence documents the slot.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(role, forKey: .role)
            try c.encode(codec, forKey: .codec)
            try c.encode(encryption, forKey: .encryption)
            try c.encode(compressed, forKey: .compressed)
            try c.encode(uncompressed, forKey: .uncompressed)
            try c.encode(members, forKey: .members)
        }
    }

    public struct Digest: Codable, Sendable, Equatable {
        public var size: Int64
        public var sha256: String
        public init(size: Int64, sha256: String) {
            self.size = size
            self.sha256 = sha256
        }
    }

    public struct Member: Codable, Sendable, Equatable {
        public var compressedSize: Int64
        public var uncompressedSize: Int64
        public init(compressedSize: Int64, uncompressedSize: Int64) {
            self.compressedSize = compressedSize
            self.uncompressedSize = uncompressedSize
        }
    }

    public var compressedSize: Int64 { sources.map(\.compressedSize).saturatingSum() }
    public var uncompressedSize: Int64 { sources.map(\.uncompressedSize).saturatingSum() }
}

public enum SourceKind: String, Codable, Sendable, CaseIterable {
    case sqlite
    case postgres
}

/// `ehrdata-archive.json`: marks a directory as an archive and says which format it is in.
public struct ArchiveMarker: Codable, Sendable, Equatable {
    public var format: String = ArchiveFormat.markerFormat
    public var version: Int = ArchiveFormat.version
    public var createdAt: String
    public var archiveID: String
    public var tool: String

    public init(createdAt: String, archiveID: String, tool: String) {
        self.createdAt = createdAt
        self.archiveID = archiveID
        self.tool = tool
    }
}

/// The first two keys of a marker or manifest, decoded before anything else so that a newer
/// format is refused with a clear message instead of being misread.
public struct FormatHeader: Decodable, Sendable {
    public var format: String
    public var version: Int

    public init(format: String, version: Int) {
        self.format = format
        self.version = version
    }

    /// Throws `unsupportedFormat` unless `format` is `expected` and `version` is one we read.
    public func check(expected: String, what: String, newest: Int = ArchiveFormat.version) throws {
        guard format == expected else {
            throw EHRError(.unsupportedFormat, "\(what) has format '\(format)', expected '\(expected)'",
                           hint: "this is not an ehrdata file; check the path")
        }
        guard version <= newest, version >= 1 else {
            throw EHRError(.unsupportedFormat,
                           "\(what) is format version \(version), newer than this ehrdata understands (\(newest))",
                           hint: "upgrade ehrdata to read it; nothing was changed")
        }
    }
}

/// The tool's own version, reported by `--version` and written into every manifest.
public enum EHRVersion {
    public static let current = "0.1.0"
}
