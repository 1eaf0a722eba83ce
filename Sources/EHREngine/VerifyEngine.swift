import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata verify`: checks snapshots from the archive alone.
///
/// Depth `checksums` (the default): the manifest against `manifest.sha256`, the snapshot's file
/// set against the manifest (a missing or an extra file fails), each file's size and SHA-256.
public struct VerifyEngine {
    public enum Depth: String, Sendable, CaseIterable { case checksums }

    public let archive: Archive
    public let logger: Logger

    public init(archive: Archive, logger: Logger) {
        self.archive = archive
        self.logger = logger
    }

    public struct Report: Codable, Sendable {
        public var id: String
        public var ok: Bool
        public var filesChecked: Int
        public var bytesChecked: Int64
        public var problems: [String]
    }

    public func run(_ ids: [SnapshotID], depth: Depth = .checksums) throws -> [Report] {
        let lock = try ArchiveLock(archive: archive, mode: .shared, command: "verify")
        defer { withExtendedLifetime(lock) {} }
        return try ids.map { id in
            let report = verify(id)
            let record = VerifyRecord(verifiedAt: Timestamp.iso8601(Date()), depth: depth.rawValue,
                                      ok: report.ok, problems: report.problems)
            try record.save(to: archive, id: id)
            logger.info("verified snapshot", metadata: ["snapshot": "\(id)", "ok": "\(report.ok)"])
            return report
        }
    }

    func verify(_ id: SnapshotID) -> Report {
        var report = Report(id: id.rawValue, ok: false, filesChecked: 0, bytesChecked: 0, problems: [])
        let dir = archive.snapshotDirectory(id)
        let manifest: Manifest
        do { manifest = try archive.manifest(of: id) } catch {
            report.problems.append((error as? EHRError)?.message ?? "\(error)")
            return report
        }
        let files = manifest.sources.flatMap(\.files)
        let expected = Set(files.map(\.path) + [Archive.manifestName, Archive.manifestDigestName])
        let present: Set<String>
        do { present = Set(try FileSystem.filesRecursively(dir)) } catch {
            report.problems.append("snapshot \(id): cannot list its files")
            return report
        }
        for extra in present.subtracting(expected).subtracting([Archive.verifyRecordName]).sorted()
        where !extra.hasPrefix(Archive.verifyRecordName + ".tmp-") {
            report.problems.append("\(extra): unexpected file in snapshot \(id)")
        }
        for file in files {
            guard SnapshotPaths.isSafe(file.path) else {
                report.problems.append("\(file.path): unsafe path in the manifest")
                continue
            }
            guard present.contains(file.path) else {
                report.problems.append("\(file.path): missing from snapshot \(id)")
                continue
            }
            do {
                let (size, digest) = try Self.digest(of: dir + "/" + file.path)
                report.filesChecked += 1
                report.bytesChecked += size
                if size != file.compressed.size {
                    report.problems.append("\(file.path): size \(size) bytes, manifest says \(file.compressed.size)")
                } else if digest != file.compressed.sha256 {
                    report.problems.append("\(file.path): SHA-256 does not match the manifest")
                }
            } catch {
                report.problems.append("\(file.path): \((error as? EHRError)?.message ?? "\(error)")")
            }
        }
        report.ok = report.problems.isEmpty
        return report
    }

    static func digest(of path: String) throws -> (Int64, String) {
        let input = try InputFile(path: path)
        var hash = SHA256Stream()
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if n == 0 { break }
            total += Int64(n)
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
        }
        return (total, hash.hex())
    }
}

/// Manifest paths must stay inside the snapshot's data directory.
enum SnapshotPaths {
    static func isSafe(_ path: String) -> Bool {
        guard path.hasPrefix("data/"), !path.hasPrefix("/") else { return false }
        return !path.split(separator: "/").contains { $0 == ".." || $0 == "." || $0.isEmpty }
    }
}
