import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata prune`: applies `retention` (RetentionPolicy, restic's rules) and removes what it
/// does not keep, crash-safely: each snapshot is unpublished by one rename into `removing/`, then
/// deleted; what an interrupted prune left there is deleted first (docs/ARCHIVE-FORMAT.md,
/// "Removing snapshots").
///
/// A real prune takes the exclusive lock: no backup, restore, verify or list runs meanwhile, so
/// nothing it removes is being read. `--dry-run` takes only the reader lock (without creating a
/// lock file) and changes nothing.
public struct PruneEngine {
    public let configuration: Configuration
    public let logger: Logger
    public var lockWait: TimeInterval = 0

    public init(configuration: Configuration, logger: Logger, lockWait: TimeInterval = 0) {
        self.configuration = configuration
        self.logger = logger
        self.lockWait = lockWait
    }

    public struct SnapshotDecision: Codable, Sendable {
        public var id: String
        public var startedAt: String
        public var sources: [String]
        public var keep: Bool
        public var reasons: [String]
        public var hold: Hold?
    }

    public struct Report: Codable, Sendable {
        public var dryRun: Bool
        public var policyEmpty: Bool
        /// The rules as configured, in the config's words.
        public var policy: [String: String]
        public var timeZone: String
        /// Newest first.
        public var snapshots: [SnapshotDecision]
        public var removed: [String]
        /// Snapshots an interrupted prune had unpublished, deleted now.
        public var finishedFromEarlierRun: [String]
    }

    public func run(dryRun: Bool) throws -> Report {
        let archive = try Archive.open(at: configuration.archive)
        let zone = try timeZone()
        let lock = try ArchiveLock(archive: archive, mode: dryRun ? .reader : .exclusive, command: "prune", wait: lockWait,
                                   logger: logger, createLockFiles: !dryRun)
        defer { withExtendedLifetime(lock) {} }
        var finished: [String] = []
        if !dryRun {
            IntentRecovery(archive: archive, logger: logger, sqlitePaths: configuration.sqlitePaths).run(holdingWriteLock: true)
            finished = try finishEarlierRemovals(archive)
        }

        let holds = try archive.checkedHolds()
        let ids = try archive.snapshotIDs(ignored: { Warnings.notASnapshot($0, logger) })
        var candidates: [RetentionCandidate] = []
        for id in ids {
            let date = id.date ?? .distantPast
            do {
                let m = try archive.manifest(of: id)
                // Failed its integrity check: the backup found the source damaged, or a verify
                // found the snapshot's own data damaged (its verdict stays FAILED).
                let verifyFailed = VerifyRecord.load(from: archive, id: id)?.ok == false
                let damaged = m.sources.filter { $0.sourceDamaged || verifyFailed }.map(\.name)
                candidates.append(RetentionCandidate(id: id.rawValue, date: date, sources: m.sources.map(\.name),
                                                     damagedSources: Set(damaged), hold: holds[id.rawValue]?.summary))
            } catch {
                candidates.append(RetentionCandidate(id: id.rawValue, date: date, sources: [],
                                                     hold: holds[id.rawValue]?.summary, unreadable: true))
            }
        }
        let rules = configuration.retention
        let decisions = RetentionPolicy.decide(candidates, rules: rules, timeZone: zone)
        let byID = Dictionary(uniqueKeysWithValues: candidates.map { ($0.id, $0) })
        var report = Report(dryRun: dryRun, policyEmpty: RetentionPolicy.isEmpty(rules), policy: Self.describe(rules),
                            timeZone: zone.identifier,
                            snapshots: decisions.map { d in
                                let c = byID[d.id]!
                                return SnapshotDecision(id: d.id, startedAt: Timestamp.iso8601(c.date), sources: c.sources,
                                                        keep: d.keep, reasons: d.reasons, hold: holds[d.id])
                            },
                            removed: [], finishedFromEarlierRun: finished)
        guard !dryRun else { return report }

        // Oldest first: if a prune stops half-way, the newest of what it meant to remove remain.
        for decision in decisions.reversed() where !decision.keep {
            guard let id = SnapshotID(decision.id) else { continue }
            try archive.unpublish(id)
            TestHooks.checkpoint("prune-after-unpublish")
            try archive.deleteUnpublished(id.rawValue, halfway: { TestHooks.checkpoint("prune-mid-delete") })
            TestHooks.checkpoint("prune-after-delete")
            report.removed.append(id.rawValue)
            logger.info("snapshot removed", metadata: ["snapshot": "\(id)", "reasons": "not kept by any rule"])
        }
        MetricsFile.refresh(configuration, archive: archive, logger: logger)
        return report
    }

    private func finishEarlierRemovals(_ archive: Archive) throws -> [String] {
        let leftovers = try archive.leftoverRemovals()
        for name in leftovers {
            logger.warning("finishing the removal of a snapshot an interrupted prune had unpublished", metadata: ["snapshot": "\(name)"])
            try archive.deleteUnpublished(name)
        }
        return leftovers
    }

    private func timeZone() throws -> TimeZone {
        guard let name = configuration.retention.timeZone else { return TimeZone.current }
        guard let zone = TimeZone(identifier: name) else {
            throw EHRError(.configuration, "retention.time_zone '\(name)' is not a time zone this host knows",
                           hint: "use an IANA name such as Europe/Berlin or UTC (see /usr/share/zoneinfo)")
        }
        return zone
    }

    static func describe(_ r: Retention) -> [String: String] {
        var d: [String: String] = [:]
        let counts: [(String, Int?)] = [("keep_last", r.keepLast), ("keep_hourly", r.keepHourly), ("keep_daily", r.keepDaily),
                                        ("keep_weekly", r.keepWeekly), ("keep_monthly", r.keepMonthly), ("keep_yearly", r.keepYearly)]
        for (key, value) in counts { if let value, value > 0 { d[key] = String(value) } }
        if let within = r.keepWithin, !within.isZero { d["keep_within"] = within.text }
        return d
    }
}
