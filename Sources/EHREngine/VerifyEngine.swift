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
    /// The config's SQLite paths, so that an interrupted in-place restore can be undone.
    public var sqlitePaths: [String: String] = [:]
    /// When set, its `metrics.textfile` is rewritten after the run.
    public var configuration: Configuration?

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
        /// Every problem is a format this ehrdata does not read (a newer manifest version, an
        /// unknown codec or encryption): exit 76 rather than 65, since nothing is known damaged.
        public var unsupportedFormat: Bool
        /// Whether the verdict was written to `verify.json` (not on a read-only archive).
        public var recorded: Bool
        /// The snapshot's verdict after this run, with its depth (`FAILED (deep)` stays after a
        /// later checksums pass); nil when it could not be recorded.
        public var verdict: String?
    }

    /// Verifies each snapshot and records its verdict. A verdict that cannot be recorded (a
    /// read-only archive, a damaged snapshot directory) is warned about; the rest still run.
    public func run(_ ids: [SnapshotID], depth: Depth = .checksums) throws -> [Report] {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "verify", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        IntentRecovery(archive: archive, logger: logger, sqlitePaths: sqlitePaths).run(holdingWriteLock: false)
        defer { if let configuration { MetricsFile.refresh(configuration, archive: archive, logger: logger) } }
        return ids.map { id in
            var report = verify(id, depth: depth)
            let result = VerifyRecord.Result(verifiedAt: Timestamp.iso8601(TestHooks.now()), ok: report.ok, problems: report.problems)
            do {
                report.verdict = try VerifyRecord.record(result, depth: depth.rawValue, to: archive, id: id).verdict
                report.recorded = true
            } catch {
                logger.warning("verdict not recorded", metadata: [
                    "snapshot": "\(id)", "reason": "\((error as? EHRError)?.message ?? "\(error)")",
                ])
            }
            logger.info("verified snapshot", metadata: ["snapshot": "\(id)", "ok": "\(report.ok)", "depth": "\(depth)"])
            return report
        }
    }

    /// One problem, and whether it is "this ehrdata cannot read that" rather than damage.
    private struct Problem {
        var message: String
        var unsupported: Bool
        init(_ error: Error, file: String? = nil) {
            let e = (error as? EHRError) ?? (ErrorMapping.map(error) as? EHRError) ?? EHRError(.failure, "\(error)")
            if let file, !e.message.hasPrefix(file) { message = "\(file): \(e.message)" } else { message = e.message }
            unsupported = e.kind == .unsupportedFormat
        }
        init(_ message: String, unsupported: Bool = false) {
            self.message = message
            self.unsupported = unsupported
        }
    }

    func verify(_ id: SnapshotID, depth: Depth) -> Report {
        var report = Report(id: id.rawValue, ok: false, depth: depth, filesChecked: 0, bytesChecked: 0, problems: [],
                            unsupportedFormat: false, recorded: false, verdict: nil)
        let problems = self.problems(of: id, depth: depth, report: &report)
        report.problems = problems.map(\.message)
        report.ok = problems.isEmpty
        report.unsupportedFormat = !problems.isEmpty && problems.allSatisfy(\.unsupported)
        return report
    }

    private func problems(of id: SnapshotID, depth: Depth, report: inout Report) -> [Problem] {
        let manifest: Manifest
        do { manifest = try archive.manifest(of: id) } catch { return [Problem(error)] }
        var problems: [Problem] = []
        let expected = Set(manifest.sources.flatMap(\.files).map(\.path) + [Archive.manifestName, Archive.manifestDigestName])
        let present: Set<String>
        do {
            let (files, others) = try SnapshotFiles.list(archive, id)
            present = files
            problems += others.map { Problem("\($0.path): \($0.what) in snapshot \(id), where only files and directories belong") }
        } catch {
            return problems + [Problem(error)]
        }
        for extra in present.subtracting(expected).sorted()
        where extra != Archive.verifyRecordName && !extra.hasPrefix(Archive.verifyRecordName + ".tmp-") {
            problems.append(Problem("\(extra): unexpected file in snapshot \(id)"))
        }
        for source in manifest.sources {
            if depth == .deep {
                ProgressMeter.shared.begin("verify --deep \(id) \(source.name)", total: source.files.reduce(Int64(0)) { $0 + $1.uncompressed.size })
            }
            defer { ProgressMeter.shared.end() }
            for file in source.files {
                if let problem = check(file, of: source, id: id, present: present, depth: depth, report: &report) {
                    problems.append(problem)
                }
            }
        }
        return problems
    }

    /// One file's problem, or nil when it is sound at `depth`.
    private func check(_ file: Manifest.File, of source: Manifest.Source, id: SnapshotID, present: Set<String>,
                       depth: Depth, report: inout Report) -> Problem? {
        guard SnapshotPaths.isSafe(file.path) else { return Problem("\(file.path): unsafe path in the manifest") }
        guard present.contains(file.path) else { return Problem("\(file.path): missing from snapshot \(report.id)") }
        // Checked at every depth: a codec or encryption this ehrdata cannot read is "upgrade",
        // whether or not the bytes are inflated.
        guard Codec(rawValue: file.codec) != nil else {
            return Problem("\(file.path): codec '\(file.codec)' is not one this ehrdata reads; upgrade ehrdata", unsupported: true)
        }
        guard file.encryption == nil else {
            return Problem("\(file.path): encrypted, which this ehrdata cannot read; upgrade ehrdata", unsupported: true)
        }
        do {
            guard depth == .deep else {
                let input = try archive.openFile(Archive.snapshotEntry(id, file.path))
                // The size first: a file that claims terabytes is damage, not hours of hashing.
                let size = try input.size()
                report.filesChecked += 1
                if size != file.compressed.size { return Problem("\(file.path): size \(size) bytes, manifest says \(file.compressed.size)") }
                let (read, digest) = try Self.digest(of: input)
                report.bytesChecked = [report.bytesChecked, read].saturatingSum()
                if read != file.compressed.size { return Problem("\(file.path): size \(read) bytes, manifest says \(file.compressed.size)") }
                if digest != file.compressed.sha256 { return Problem("\(file.path): SHA-256 does not match the manifest") }
                return nil
            }
            // Deep: one read per file; DataFileReader checks the compressed size and digest too.
            report.filesChecked += 1
            report.bytesChecked = [report.bytesChecked, file.compressed.size].saturatingSum()
            let reader = try DataFileReader(archive: archive, snapshot: id, entry: file)
            if source.kind == .sqlite, file.role == "sqlite-database" {
                return try deepCheckSQLite(reader).map { Problem($0) }
            }
            try reader.read { _ in }
            return nil
        } catch {
            return Problem(error, file: file.path)
        }
    }

    /// Restores the database into a temp directory (checking both digests on the way) and runs
    /// integrity_check on it; the copy is removed afterwards.
    private func deepCheckSQLite(_ reader: DataFileReader) throws -> String? {
        let temp = try TempPath(in: scratchDirectory, name: "verify.sqlite")
        defer { temp.remove() }
        let output = try OutputFile(creating: temp.file)
        try reader.read { try output.write($0) }
        try output.close()
        let problems = try SQLiteConnection(path: temp.file, mode: .immutable).integrityProblems()
        return problems.isEmpty ? nil
            : "\(reader.entry.path): integrity_check of the restored copy: \(problems[0].replacingOccurrences(of: "\n", with: " "))"
    }

    static func digest(of input: InputFile) throws -> (Int64, String) {
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

/// The entries of a snapshot directory, walked without following links: the regular files (as
/// paths relative to the snapshot) and everything else (links, FIFOs, devices), which is damage.
enum SnapshotFiles {
    static func list(_ archive: Archive, _ id: SnapshotID) throws -> (files: Set<String>, others: [(path: String, what: String)]) {
        var files = Set<String>(), others: [(String, String)] = []
        func walk(_ rel: String) throws {
            let base = "snapshots/\(id.rawValue)" + (rel.isEmpty ? "" : "/" + rel)
            for (name, type) in try archive.entries(base) {
                let child = rel.isEmpty ? name : rel + "/" + name
                switch type {
                case .file: files.insert(child)
                case .directory: try walk(child)
                case .symbolicLink: others.append((child, "a symbolic link"))
                case .other(let what): others.append((child, what))
                }
            }
        }
        try walk("")
        return (files, others)
    }
}
