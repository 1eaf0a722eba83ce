import EHRCore
import Foundation

/// An archive directory as docs/ARCHIVE-FORMAT.md lays it out. Opening one checks its marker's
/// format and version, so a newer archive is refused rather than misread.
public struct Archive: Sendable {
    public let root: String

    public static let markerName = "ehrdata-archive.json"
    public static let manifestName = "manifest.json"
    public static let manifestDigestName = "manifest.sha256"
    public static let verifyRecordName = "verify.json"

    public var markerPath: String { root + "/" + Archive.markerName }
    public var snapshotsDirectory: String { root + "/snapshots" }
    public var stagingDirectory: String { root + "/staging" }

    private init(root: String) { self.root = root }

    /// Opens an existing archive.
    public static func open(at root: String) throws -> Archive {
        let archive = Archive(root: root)
        guard let data = FileManager.default.contents(atPath: archive.markerPath) else {
            if FileSystem.isDirectory(root) {
                throw EHRError(.notFound, "\(root) is not an ehrdata archive (no \(markerName))",
                               hint: "run 'ehrdata init' to create one, or fix 'archive' in the config")
            }
            throw EHRError(.notFound, "no archive at \(root)",
                           hint: "run 'ehrdata init' to create it, or fix 'archive' in the config")
        }
        let header: FormatHeader
        do { header = try JSONDecoder().decode(FormatHeader.self, from: data) } catch {
            throw EHRError(.unsupportedFormat, "\(archive.markerPath) is not a readable archive marker",
                           hint: "this directory is not an ehrdata archive, or its marker is damaged")
        }
        try header.check(expected: ArchiveFormat.markerFormat, what: "archive \(root)")
        return archive
    }

    /// Creates the archive (0700 directories, marker 0600), or opens it if it exists.
    @discardableResult
    public static func create(at root: String) throws -> (archive: Archive, created: Bool) {
        let archive = Archive(root: root)
        if FileSystem.exists(archive.markerPath) { return (try open(at: root), false) }
        if FileSystem.isDirectory(root), !(try FileSystem.list(root)).isEmpty {
            throw EHRError(.targetExists, "\(root) exists and is not empty, and is not an ehrdata archive",
                           hint: "choose an empty or new directory for the archive")
        }
        try FileSystem.makeDirectories(root)
        try FileSystem.makeDirectory(archive.snapshotsDirectory)
        try FileSystem.makeDirectory(archive.stagingDirectory)
        let marker = ArchiveMarker(createdAt: Timestamp.iso8601(Date()), archiveID: UUID().uuidString.lowercased(),
                                   tool: "ehrdata \(EHRVersion.current)")
        try FileSystem.atomicWrite(try JSONCoding.encode(marker), to: archive.markerPath)
        try FileSystem.fsyncDirectory(root)
        return (archive, true)
    }

    /// Published snapshots, oldest first. Staging data is never included.
    public func snapshotIDs() throws -> [SnapshotID] {
        try FileSystem.list(snapshotsDirectory).compactMap(SnapshotID.init).sorted()
    }

    public func resolve(_ selector: SnapshotSelector) throws -> SnapshotID {
        try selector.resolve(in: snapshotIDs())
    }

    public func snapshotDirectory(_ id: SnapshotID) -> String { snapshotsDirectory + "/" + id.rawValue }

    /// Reads a snapshot's manifest after checking it against `manifest.sha256` and its format.
    public func manifest(of id: SnapshotID) throws -> Manifest {
        let dir = snapshotDirectory(id)
        let path = dir + "/" + Archive.manifestName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EHRError(.verificationFailed, "snapshot \(id): \(Archive.manifestName) is missing",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        let digestPath = dir + "/" + Archive.manifestDigestName
        guard let digestData = FileManager.default.contents(atPath: digestPath) else {
            throw EHRError(.verificationFailed, "snapshot \(id): \(Archive.manifestDigestName) is missing",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        let actual = SHA256Stream.hex(of: Array(data))
        guard String(decoding: digestData, as: UTF8.self) == Archive.digestLine(actual) else {
            throw EHRError(.verificationFailed,
                           "snapshot \(id): \(Archive.manifestName) does not match \(Archive.manifestDigestName)",
                           hint: "the manifest was changed or damaged; use another snapshot")
        }
        return try JSONCoding.decodeManifest(data, what: "snapshot \(id)")
    }

    /// The `sha256sum`-compatible line stored in manifest.sha256.
    public static func digestLine(_ hex: String) -> String { "\(hex)  \(manifestName)\n" }

    /// Staging directories left behind by a crashed writer.
    public func leftoverStaging() throws -> [String] {
        try FileSystem.list(stagingDirectory).map { stagingDirectory + "/" + $0 }
    }

    /// Starts a new snapshot in staging under a fresh id.
    public func beginSnapshot(at date: Date = Date()) throws -> StagedSnapshot {
        try FileSystem.makeDirectory(stagingDirectory)
        for _ in 0..<16 {
            let id = SnapshotID.make(at: date)
            let staging = stagingDirectory + "/" + id.rawValue
            if FileSystem.exists(snapshotDirectory(id)) || FileSystem.exists(staging) { continue }
            return try StagedSnapshot(archive: self, id: id, directory: staging)
        }
        throw EHRError(.failure, "could not draw an unused snapshot id", hint: "retry the backup")
    }
}

/// JSON as the archive writes it: pretty, stable key order, no escaped slashes.
public enum JSONCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        // Sorted keys: the same manifest always serialises to the same bytes.
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(value))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Checks format and version before decoding the rest.
    public static func decodeManifest(_ data: Data, what: String) throws -> Manifest {
        let header: FormatHeader
        do { header = try JSONDecoder().decode(FormatHeader.self, from: data) } catch {
            throw EHRError(.verificationFailed, "\(what): manifest is not readable JSON",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        try header.check(expected: ArchiveFormat.manifestFormat, what: what, newest: ArchiveFormat.manifestVersion)
        do { return try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw EHRError(.verificationFailed, "\(what): manifest does not follow format version \(header.version)",
                           hint: "this snapshot is damaged; use another snapshot")
        }
    }
}
