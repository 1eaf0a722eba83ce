#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRPostgres
import Foundation
import Logging

/// `ehrdata drill`: proves that a snapshot restores and that the restored data is consistent.
/// Verifies the snapshot's checksums, restores every source into a scratch place (a temp SQLite
/// file in the scratch directory; a scratch database on the source's server, or on
/// `drill.connection`'s), runs the built-in checks (amcheck installed in each scratch database
/// when the server has it) and the rules against the copies, and removes every copy.
///
/// Each copy is a restore's work file or database held under an intent record (the restore's
/// own mechanism, docs/ARCHIVE-FORMAT.md "Intent records") from before it is created until it
/// is removed, so a drill killed at any point leaves copies that the next command with that
/// source's server (the next drill, or a restore) removes.
public struct DrillEngine {
    public let archive: Archive
    public let configuration: Configuration
    public let logger: Logger
    public var lockWait: TimeInterval

    public init(archive: Archive, configuration: Configuration, logger: Logger, lockWait: TimeInterval = 0) {
        self.archive = archive
        self.configuration = configuration
        self.logger = logger
        self.lockWait = lockWait
    }

    public struct Step: Codable, Sendable {
        /// `verify`, `restore`, `checks`, `cleanup`.
        public var name: String
        public var source: String?
        public var ok: Bool
        public var seconds: Double
        public var detail: String?
    }

    public struct Report: Codable, Sendable {
        public var snapshot: String
        public var results: [CheckResult]
        public var steps: [Step]
        public var peakMemoryBytes: Int64
        public var verdict: String
        /// Whether the result was written to the archive.
        public var stored: Bool
    }

    /// Runs the drill. A snapshot that does not verify throws 65; a restore that fails throws
    /// its restore error (65, or 1); both after the cleanup, and are stored as the last drill.
    public func run(snapshot selector: SnapshotSelector, scratchDirectory: String?) throws -> Report {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "drill", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(selector)
        let manifest = try archive.manifest(of: id)
        let scratch = Paths.absolute(scratchDirectory ?? configuration.drill.scratchDirectory ?? NSTemporaryDirectory())
        guard FileSystem.isDirectory(scratch) else {
            throw EHRError(.notFound, "scratch directory \(scratch) does not exist", hint: "create it, or pass --scratch-dir DIR")
        }
        let servers = try scratchServers(manifest)
        // What a killed drill (or restore) left goes first.
        IntentRecovery(archive: archive, logger: logger, sqlitePaths: configuration.sqlitePaths,
                       postgresConnections: servers).run(holdingWriteLock: false)

        var steps: [Step] = []
        var report = Report(snapshot: id.rawValue, results: [], steps: [], peakMemoryBytes: 0, verdict: "", stored: false)
        var copies: [ScratchCopy] = []
        var failure: Error?
        do {
            try step("verify", nil, into: &steps) {
                let verified = VerifyEngine(archive: archive, logger: logger).verify(id, depth: .checksums)
                guard verified.ok else {
                    throw EHRError(verified.unsupportedFormat ? .unsupportedFormat : .verificationFailed,
                                   "snapshot \(id) does not verify: \(verified.problems.first ?? "damaged")",
                                   hint: "run 'ehrdata verify \(id)' for every problem; drill an older snapshot")
                }
            }
            let stamp = String(Timestamp.compactUTC(Date()).prefix(15))
            for source in manifest.sources {
                try step("restore", source.name, into: &steps) {
                    let copy = try ScratchCopy(source: source, archive: archive, snapshot: id, stamp: stamp, scratch: scratch,
                                               server: servers[source.name], logger: logger)
                    copies.append(copy)
                    ProgressMeter.shared.begin("drill restore \(source.name)", total: source.files.reduce(Int64(0)) { $0 + $1.uncompressed.size })
                    defer { ProgressMeter.shared.end() }
                    do { try copy.materialize() } catch { throw ErrorMapping.map(error, source: source.name) }
                }
            }
            TestHooks.checkpoint("drill-before-checks")
            try step("checks", nil, into: &steps) {
                var targets: [String: CheckTarget] = [:]
                for copy in copies { targets[copy.source.name] = copy.target }
                let sources = manifest.sources.map { s in
                    configuration.source(named: s.name) ?? SourceConfig(name: s.name, kind: s.kind)
                }
                report.results = CheckEngine.checks(sources: sources, rules: configuration.rules, targets: targets, quick: false,
                                                    showKeys: false, timeout: configuration.check.statementTimeout, logger: logger)
            }
        } catch {
            failure = error
        }
        step("cleanup", nil, into: &steps) {
            for copy in copies.reversed() { copy.remove() }
        }
        report.steps = steps
        report.peakMemoryBytes = PeakMemory.bytes()
        report.verdict = failure == nil ? CheckEngine.verdictName(report.results) : "not restored"
        do {
            try ResultRecord.store(report, command: "drill", name: ResultRecord.drillName, in: archive)
            report.stored = true
            MetricsFile.refresh(configuration, archive: archive, logger: logger)
        } catch {
            logger.warning("the drill's result was not stored in the archive", metadata: ["reason": "\(IntentRecovery.reason(error))"])
        }
        if let failure { throw failure }
        return report
    }

    /// The server each PostgreSQL source's scratch database goes on: `drill.connection`, else
    /// the source's own connection from the config.
    private func scratchServers(_ manifest: Manifest) throws -> [String: String] {
        var servers: [String: String] = [:]
        for source in manifest.sources where source.kind == .postgres {
            guard let connection = configuration.drill.connection ?? configuration.source(named: source.name)?.connection else {
                throw EHRError(.configuration, "source '\(source.name)' is not in the config, so there is no server for its scratch copy",
                               hint: "add the source to the config, or set drill.connection")
            }
            servers[source.name] = connection
        }
        return servers
    }

    private func step(_ name: String, _ source: String?, into steps: inout [Step], _ body: () throws -> Void) rethrows {
        let clock = ContinuousClock(), start = clock.now
        func seconds() -> Double {
            let e = (clock.now - start).components
            return Double(e.seconds) + Double(e.attoseconds) / 1e18
        }
        do {
            try body()
            steps.append(Step(name: name, source: source, ok: true, seconds: seconds()))
            logger.info("drill step done", metadata: ["step": "\(name)", "source": "\(source ?? "")", "seconds": "\(String(format: "%.2f", seconds()))"])
        } catch {
            steps.append(Step(name: name, source: source, ok: false, seconds: seconds(), detail: IntentRecovery.reason(ErrorMapping.map(error))))
            throw error
        }
    }
}
