import EHRArchive
import EHRCore
import EHRSQLite
import Foundation
import Logging

/// `ehrdata verify`: checks snapshots from the archive alone, at a named depth.
///
/// - `checksums` (default): the manifest against `manifest.sha256`, the snapshot's file set
///   against the manifest (a missing or an extra file fails), each file's size and SHA-256.
/// - `deep`: also inflates every member, checks the uncompressed size and SHA-256, and runs
///   SQLite's integrity_check on each database copy restored into a temp directory.
public struct VerifyEngine {
    public enum Depth: String, Sendable, CaseIterable, Codable { case checksums, deep }

    public let archive: Archive
    public let logger: Logger
    public var lockWait: TimeInterval
    /// Where `deep` puts its temporary database copies.
    public var scratchDirectory: String

    public init(archive: Archive, logger: Logger, lockWait: TimeInterval = 0,
                scratchDirectory: String = NSTemporaryDirectory()) {
        self.archive = archive
        self.logger = logger
        self.lockWait = lockWait
        self.scratchDirectory = scratchDirectory
    }

    public struct Report: Codable, Sendable {
        public var id: String
        public var ok: Bool
        public var depth: Depth
        public var filesChecked: Int
        public var bytesChecked: Int64
        public var problems: [String]
    }

    public func run(_ ids: [SnapshotID], depth: Depth = .checksums) throws -> [Report] {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "verify", wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        return try ids.map { id in
            let report = verify(id, depth: depth)
            let record = VerifyRecord(verifiedAt: Timestamp.iso8601(Date()), depth: depth.rawValue,
                                      ok: report.ok, problems: report.problems)
            try record.save(to: archive, id: id)
            logger.info("verified snapshot", metadata: ["snapshot": "\(id)", "ok": "\(report.ok)", "depth": "\(depth)"])
            return report
        }
    }

    func verify(_ id: SnapshotID, depth: Depth) -> Report {
        var report = Report(id: id.rawValue, ok: false, depth: depth, filesChecked: 0, bytesChecked: 0, problems: [])
        let dir = archive.snapshotDirectory(id)
        let manifest: Manifest
        do { manifest = try archive.manifest(of: id) } catch {
            report.problems.append((error as? EHRError)?.message ?? "\(error)")
            return report
        }
        let expected = Set(manifest.sources.flatMap(\.files).map(\.path) + [Archive.manifestName, Archive.manifestDigestName])
        let present: Set<String>
        do { present = Set(try FileSystem.filesRecursively(dir)) } catch {
            report.problems.append("snapshot \(id): cannot list its files")
            return report
        }
        for extra in present.subtracting(expected).sorted()
        where extra != Archive.verifyRecordName && !extra.hasPrefix(Archive.verifyRecordName + ".tmp-") {
            report.problems.append("\(extra): unexpected file in snapshot \(id)")
        }
        for source in manifest.sources {
            for file in source.files {
                if let problem = check(file, of: source, in: dir, present: present, depth: depth, report: &report) {
                    report.problems.append(problem)
                }
            }
        }
        report.ok = report.problems.isEmpty
        return report
    }

    /// One file's problem, or nil when it is sound at `depth`.
    private func check(_ file: Manifest.File, of source: Manifest.Source, in dir: String, present: Set<String>,
                       depth: Depth, report: inout Report) -> String? {
        guard SnapshotPaths.isSafe(file.path) else { return "\(file.path): unsafe path in the manifest" }
        guard present.contains(file.path) else { return "\(file.path): missing from snapshot \(report.id)" }
        let path = dir + "/" + file.path
        do {
            guard depth == .deep else {
                let (size, digest) = try Self.digest(of: path)
                report.filesChecked += 1
                report.bytesChecked += size
                if size != file.compressed.size { return "\(file.path): size \(size) bytes, manifest says \(file.compressed.size)" }
                if digest != file.compressed.sha256 { return "\(file.path): SHA-256 does not match the manifest" }
                return nil
            }
            // Deep: one read per file; DataFileReader checks the compressed size and digest too.
            report.filesChecked += 1
            report.bytesChecked += file.compressed.size
            if source.kind == .sqlite, file.role == "sqlite-database" {
                return try deepCheckSQLite(file, at: path)
            }
            try DataFileReader(path: path, entry: file).read { _ in }
            return nil
        } catch let error as EHRError {
            return error.message.hasPrefix(file.path) ? error.message : "\(file.path): \(error.message)"
        } catch {
            return "\(file.path): \(ErrorMapping.map(error))"
        }
    }

    /// Restores the database into a temp directory (checking both digests on the way) and runs
    /// integrity_check on it; the copy is removed afterwards.
    private func deepCheckSQLite(_ file: Manifest.File, at path: String) throws -> String? {
        let temp = try TempPath(in: scratchDirectory, name: "verify.sqlite")
        defer { temp.remove() }
        let output = try OutputFile(creating: temp.file)
        try DataFileReader(path: path, entry: file).read { try output.write($0) }
        try output.close()
        let problems = try SQLiteConnection(path: temp.file, mode: .immutable).integrityProblems()
        return problems.isEmpty ? nil : "\(file.path): integrity_check of the restored copy: \(problems[0])"
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

/// A private 0700 directory for one temp file, removed with everything in it.
struct TempPath {
    let directory: String
    var file: String

    init(in parent: String, name: String) throws {
        var template = Array((parent.hasSuffix("/") ? parent : parent + "/").appending("ehrdata-verify.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw FileSystem.error("create a temp directory in", parent) }
        directory = String(cString: made)
        file = directory + "/" + name
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Manifest paths must stay inside the snapshot's data directory.
enum SnapshotPaths {
    static func isSafe(_ path: String) -> Bool {
        guard path.hasPrefix("data/"), !path.hasPrefix("/") else { return false }
        return !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." || $0.isEmpty }
    }
}
