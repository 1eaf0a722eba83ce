#if canImport(Glibc)
import Glibc
#endif
import EHRCompression
import EHRCore
import Foundation

/// A snapshot being built under `staging/<id>/`. Nothing here is visible to `list` until
/// `publish` renames the directory into `snapshots/`; a crash before that leaves only staging
/// data, which the next writer removes.
public final class StagedSnapshot {
    public let archive: Archive
    public let id: SnapshotID
    public let directory: String
    public var dataDirectory: String { directory + "/data" }
    private var published = false

    init(archive: Archive, id: SnapshotID, directory: String) throws {
        self.archive = archive
        self.id = id
        self.directory = directory
        try FileSystem.makeDirectory(directory)
        try FileSystem.makeDirectory(directory + "/data")
    }

    /// A writer for `data/<name>`.
    /// `workers` compress this file's members in parallel (default: one per core).
    public func dataFile(named name: String, role: String, compression: Compression,
                         content: MemberContent = .general,
                         workers: Int = OrderedWorkPool<Int, Int, Int>.defaultWorkers,
                         memberSize: Int = DataFileWriter.defaultMemberSize,
                         membersInFlight: Int? = nil) throws -> DataFileWriter {
        let file = name + compression.codec.fileSuffix
        return try DataFileWriter(path: dataDirectory + "/" + file, relativePath: "data/" + file, role: role,
                                  codec: compression.codec, level: compression.level, content: content, memberSize: memberSize,
                                  workers: workers, membersInFlight: membersInFlight)
    }

    /// A scratch path inside the staging directory, removed by `publish` or `discard`.
    public func scratchPath(_ name: String) -> String { directory + "/scratch-" + name }

    /// Writes the manifest and its digest, fsyncs everything, and renames the snapshot into
    /// place. After this returns the snapshot is durable and listed.
    public func publish(_ manifest: Manifest) throws {
        for name in try FileSystem.list(directory) where name.hasPrefix("scratch-") {
            try FileSystem.removeTree(directory + "/" + name)
        }
        let bytes = try JSONCoding.encode(manifest)
        try write(bytes, to: directory + "/" + Archive.manifestName)
        try write(Array(Archive.digestLine(SHA256Stream.hex(of: bytes)).utf8),
                  to: directory + "/" + Archive.manifestDigestName)
        for sub in try FileSystem.directoriesRecursively(dataDirectory) { try FileSystem.fsyncDirectory(sub) }
        try FileSystem.fsyncDirectory(dataDirectory)
        try FileSystem.fsyncDirectory(directory)
        try FileSystem.makeDirectory(archive.snapshotsDirectory)
        // Between the two real directories, never through a link that would publish the
        // snapshot somewhere outside the archive.
        let staging = try archive.openDirectory("staging"), snapshots = try archive.openDirectory("snapshots")
        try FileSystem.renameNoReplace(id.rawValue, in: staging.fd, to: id.rawValue, in: snapshots.fd,
                                       display: archive.snapshotDirectory(id))
        published = true
        guard fsync(snapshots.fd) == 0 else { throw FileSystem.error("fsync directory", archive.snapshotsDirectory) }
        guard fsync(staging.fd) == 0 else { throw FileSystem.error("fsync directory", archive.stagingDirectory) }
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        let file = try OutputFile(creating: path)
        try file.write(bytes)
        try file.sync()
        try file.close()
    }

    /// Removes the staging directory after a failure.
    public func discard() {
        guard !published else { return }
        try? archive.removeStaging(id.rawValue)
    }
}
