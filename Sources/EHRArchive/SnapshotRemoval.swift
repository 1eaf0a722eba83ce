#if canImport(Glibc)
import Glibc
#endif
import EHRCore
import Foundation

/// Prune's two steps (docs/ARCHIVE-FORMAT.md, "Removing snapshots"): a snapshot is unpublished
/// by one rename into `removing/`, then deleted. Whatever stands in `removing/` was already
/// decided and unpublished, so the next prune deletes it. Callers hold the exclusive lock.
extension Archive {
    public static let removingDirectory = "removing"

    /// What an interrupted prune left in `removing/`.
    public func leftoverRemovals() throws -> [String] {
        do { return try entries(Self.removingDirectory).map(\.name) } catch let error as EHRError where error.kind == .notFound { return [] }
    }

    /// Step 1: `snapshots/<id>` → `removing/<id>`, both directories fsynced. After this the
    /// snapshot is never listed again.
    public func unpublish(_ id: SnapshotID) throws {
        try FileSystem.makeDirectory(root + "/" + Self.removingDirectory)
        let snapshots = try openDirectory("snapshots"), removing = try openDirectory(Self.removingDirectory)
        try FileSystem.renameNoReplace(id.rawValue, in: snapshots.fd, to: id.rawValue, in: removing.fd,
                                       display: root + "/" + Self.removingDirectory + "/" + id.rawValue)
        guard fsync(removing.fd) == 0 else { throw FileSystem.error("fsync directory", root + "/" + Self.removingDirectory) }
        guard fsync(snapshots.fd) == 0 else { throw FileSystem.error("fsync directory", snapshotsDirectory) }
    }

    /// Step 2: deletes `removing/<name>` (never following a link), then fsyncs `removing/`.
    /// `halfway` runs after the data files are gone and before the rest, for crash tests.
    public func deleteUnpublished(_ name: String, halfway: () -> Void = {}) throws {
        let removing = try openDirectory(Self.removingDirectory)
        if Self.entryType(in: removing.fd, name) == .directory {
            let data = Self.removingDirectory + "/" + name
            if (try? openDirectory(data + "/data")) != nil { try removeTree("data", in: data) }
            halfway()
        }
        try Self.removeTree(name, in: removing.fd, display: root + "/" + Self.removingDirectory + "/" + name)
        guard fsync(removing.fd) == 0 else { throw FileSystem.error("fsync directory", root + "/" + Self.removingDirectory) }
    }
}
