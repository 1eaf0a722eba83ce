#if canImport(Glibc)
import Glibc
#endif
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
        guard FileSystem.isDirectory(root) else {
            throw EHRError(.notFound, "no archive at \(root)",
                           hint: "run 'ehrdata init' to create it, or fix 'archive' in the config")
        }
        guard let data = try archive.readFile(markerName, limit: 64 * 1024) else {
            throw EHRError(.notFound, "\(root) is not an ehrdata archive (no \(markerName))",
                           hint: "run 'ehrdata init' to create one, or fix 'archive' in the config")
        }
        let header: FormatHeader
        do { header = try JSONDecoder().decode(FormatHeader.self, from: Data(data)) } catch {
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
        // An existing empty directory keeps whatever mode it had (0755, even 1777): the
        // archive holds patient data, so it becomes 0700 like a new one.
        guard chmod(root, 0o700) == 0 else { throw FileSystem.error("set mode 0700 on", root) }
        try FileSystem.makeDirectory(archive.snapshotsDirectory)
        try FileSystem.makeDirectory(archive.stagingDirectory)
        let marker = ArchiveMarker(createdAt: Timestamp.iso8601(Date()), archiveID: UUID().uuidString.lowercased(),
                                   tool: "ehrdata \(EHRVersion.current)")
        try FileSystem.atomicWrite(try JSONCoding.encode(marker), to: archive.markerPath)
        try FileSystem.fsyncDirectory(root)
        return (archive, true)
    }

    /// Published snapshots, oldest first. Staging data is never included. Entries that are not
    /// snapshots (a name that is not an id, a regular file) are left out and reported through
    /// `ignored`; a link named like an id is kept, so that verify and restore report it as damage.
    public func snapshotIDs(ignored: (String) -> Void = { _ in }) throws -> [SnapshotID] {
        let entries: [(name: String, type: EntryType)]
        do { entries = try self.entries("snapshots") } catch let error as EHRError where error.kind == .notFound { return [] }
        return entries.compactMap { entry in
            guard let id = SnapshotID(entry.name), entry.type == .directory || entry.type == .symbolicLink else {
                ignored(entry.name)
                return nil
            }
            return id
        }.sorted()
    }

    public func resolve(_ selector: SnapshotSelector) throws -> SnapshotID {
        try selector.resolve(in: snapshotIDs())
    }

    public func snapshotDirectory(_ id: SnapshotID) -> String { snapshotsDirectory + "/" + id.rawValue }

    /// The path of `name` inside snapshot `id`, relative to the archive root.
    public static func snapshotEntry(_ id: SnapshotID, _ name: String) -> String { "snapshots/\(id.rawValue)/\(name)" }

    /// Bounds on the small files a reader takes whole (docs/ARCHIVE-FORMAT.md).
    public static let manifestLimit = 64 << 20
    static let digestLimit = 4096

    /// Reads a snapshot's manifest after checking it against `manifest.sha256` and its format,
    /// then that every number in it is within the format's bounds.
    public func manifest(of id: SnapshotID) throws -> Manifest {
        guard let data = try readFile(Self.snapshotEntry(id, Archive.manifestName), limit: Self.manifestLimit) else {
            throw EHRError(.verificationFailed, "snapshot \(id): \(Archive.manifestName) is missing",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        guard let digestData = try readFile(Self.snapshotEntry(id, Archive.manifestDigestName), limit: Self.digestLimit) else {
            throw EHRError(.verificationFailed, "snapshot \(id): \(Archive.manifestDigestName) is missing",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        let actual = SHA256Stream.hex(of: data)
        guard String(decoding: digestData, as: UTF8.self) == Archive.digestLine(actual) else {
            throw EHRError(.verificationFailed,
                           "snapshot \(id): \(Archive.manifestName) does not match \(Archive.manifestDigestName)",
                           hint: "the manifest was changed or damaged; use another snapshot")
        }
        let manifest = try JSONCoding.decodeManifest(Data(data), what: "snapshot \(id)")
        if let problem = manifest.boundsProblem() {
            throw EHRError(.verificationFailed, "snapshot \(id): manifest has \(problem)",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        return manifest
    }

    /// The `sha256sum`-compatible line stored in manifest.sha256.
    public static func digestLine(_ hex: String) -> String { "\(hex)  \(manifestName)\n" }

    /// Staging directories left behind by a crashed writer (names inside `staging/`). A
    /// `staging` that is a link is damage: nothing is ever removed through it.
    public func leftoverStaging() throws -> [String] {
        do { return try entries("staging").map(\.name) } catch let error as EHRError where error.kind == .notFound { return [] }
    }

    /// Removes one leftover of `leftoverStaging()`, never following a link.
    public func removeStaging(_ name: String) throws { try removeTree(name, in: "staging") }

    /// Starts a new snapshot in staging under a fresh id.
    public func beginSnapshot(at date: Date = Date()) throws -> StagedSnapshot {
        try FileSystem.makeDirectory(stagingDirectory)
        _ = try openDirectory("staging") // a link there is damage, not a place to write
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

/// Manifest paths must stay inside the snapshot's data directory.
public enum SnapshotPaths {
    public static func isSafe(_ path: String) -> Bool {
        guard path.hasPrefix("data/"), !path.hasPrefix("/") else { return false }
        return !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." || $0.isEmpty }
    }
}
