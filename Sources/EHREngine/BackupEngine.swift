import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata backup`: every configured source into one new snapshot, published atomically.
public struct BackupEngine {
    public let configuration: Configuration
    public let logger: Logger
    public var lockWait: TimeInterval = 0
    /// Parallel COPY workers per PostgreSQL source.
    public var jobs: Int

    public init(configuration: Configuration, logger: Logger, lockWait: TimeInterval = 0,
                jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.configuration = configuration
        self.logger = logger
        self.lockWait = lockWait
        self.jobs = max(1, jobs)
    }

    public func run(sourceNames: [String] = []) throws -> Manifest {
        if let secrets = ConfigSecrets.warning(for: configuration) {
            logger.warning("the config file's password is readable by others", metadata: ["detail": "\(secrets)"])
        }
        let sources = try selectedSources(sourceNames)
        let archive = try Archive.open(at: configuration.archive)
        let lock = try ArchiveLock(archive: archive, mode: .writer, command: "backup", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        IntentRecovery(archive: archive, logger: logger, sqlitePaths: configuration.sqlitePaths).run(holdingWriteLock: true)
        try removeLeftovers(in: archive)

        let realStart = Date()
        let started = TestHooks.now()
        func outcomes(_ manifest: Manifest?) -> [String: RunRecord.Outcome] {
            let finished = Timestamp.iso8601(started.addingTimeInterval(Date().timeIntervalSince(realStart)))
            return Dictionary(uniqueKeysWithValues: sources.map { source in
                let copy = manifest?.sources.first { $0.name == source.name }
                return (source.name, RunRecord.Outcome(startedAt: Timestamp.iso8601(started), finishedAt: finished,
                                                       ok: copy.map { !$0.sourceDamaged } ?? false,
                                                       snapshot: manifest?.snapshotID.rawValue))
            })
        }
        let staged: StagedSnapshot
        do { staged = try archive.beginSnapshot(at: started) } catch {
            record(outcomes(nil), in: archive)
            throw error
        }
        logger.info("backup started", metadata: ["snapshot": "\(staged.id)", "sources": "\(sources.count)"])
        do {
            var captured: [Manifest.Source] = []
            for source in sources {
                // The bytes going into the archive; a SQLite file's size is the copy's (no ETA for PostgreSQL).
                ProgressMeter.shared.begin("backup \(source.name)", total: source.path.flatMap { try? FileSystem.size($0) })
                defer { ProgressMeter.shared.end() }
                var copy = try capture(source, into: staged)
                if source.kind == .postgres,
                   let check = PostgresShrinkCheck.check(copy, rowDropPercent: source.rowDropWarning, archive: archive) {
                    copy.sourceCheck = check
                    if !check.ok {
                        logger.error("tables are gone or shrank since the previous snapshot; backed up as they are, and marked so", metadata: [
                            "source": "\(source.name)", "against": "\(check.against ?? "")", "first_problem": "\(check.problems[0])",
                        ])
                    }
                }
                captured.append(copy)
            }
            let manifest = Manifest(snapshotID: staged.id, tool: .init(version: EHRVersion.current),
                                    host: ProcessInfo.processInfo.hostName, startedAt: Timestamp.iso8601(started),
                                    finishedAt: Timestamp.iso8601(started.addingTimeInterval(Date().timeIntervalSince(realStart))),
                                    sources: captured)
            TestHooks.checkpoint("backup-before-publish")
            try staged.publish(manifest)
            logger.info("backup published", metadata: [
                "snapshot": "\(staged.id)", "compressed_bytes": "\(manifest.compressedSize)",
            ])
            record(outcomes(manifest), in: archive)
            return manifest
        } catch {
            staged.discard()
            record(outcomes(nil), in: archive)
            logger.info("backup failed; its staging data was removed and nothing was published")
            throw error
        }
    }

    /// The run record and the metrics file: their failure is a warning, never the backup's.
    private func record(_ outcomes: [String: RunRecord.Outcome], in archive: Archive) {
        do { try RunRecord.recordBackup(outcomes, in: archive) } catch {
            logger.warning("could not record this backup's outcome in the archive", metadata: ["error": "\(error)"])
        }
        MetricsFile.refresh(configuration, archive: archive, logger: logger)
    }

    private func selectedSources(_ names: [String]) throws -> [SourceConfig] {
        if names.isEmpty { return configuration.sources }
        return try names.map { name in
            guard let source = configuration.source(named: name) else {
                throw EHRError(.notFound, "no source named '\(name)' in \(configuration.origin)",
                               hint: "configured sources: \(configuration.sources.map(\.name).joined(separator: ", "))")
            }
            return source
        }
    }

    private func capture(_ source: SourceConfig, into staged: StagedSnapshot) throws -> Manifest.Source {
        do {
            switch source.kind {
            case .sqlite:
                return try SQLiteSourceCapture(source: source, compression: configuration.compression, logger: logger)
                    .capture(into: staged)
            case .postgres:
                return try PostgresSourceCapture(source: source, compression: configuration.compression, jobs: jobs,
                                                 retries: source.retries, logger: logger).capture(into: staged)
            }
        } catch {
            throw ErrorMapping.map(error, source: source.name)
        }
    }

    /// A backup killed mid-way leaves its staging directory; we hold the writer lock, so no
    /// other backup can be using it. Removal never follows a link (a linked `staging` is damage).
    private func removeLeftovers(in archive: Archive) throws {
        for leftover in try archive.leftoverStaging() {
            logger.warning("removing staging data left by an interrupted backup",
                           metadata: ["path": "\(archive.stagingDirectory)/\(leftover)"])
            try archive.removeStaging(leftover)
        }
    }
}
