#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import Foundation
import Logging

/// What `status` shows and the metrics file exports: per source the last good backup, the last
/// run's outcome, the last verify, the holds; the archive's size, free space and growth. Read
/// from the archive alone (the snapshots' manifests and verify records, `holds/`, `runs/`).
public struct ArchiveHealth: Codable, Sendable {
    public struct LastGood: Codable, Sendable {
        public var snapshot: String
        public var startedAt: String
        public var finishedAt: String
        public var ageSeconds: Double
        public var durationSeconds: Double
        public var compressedSize: Int64
        public var uncompressedSize: Int64
    }

    public struct LastVerify: Codable, Sendable {
        public var snapshot: String
        public var verdict: String
        public var ok: Bool
        public var verifiedAt: String
    }

    public struct Source: Codable, Sendable {
        public var name: String
        public var configured: Bool
        /// The newest published snapshot holding this source undamaged.
        public var lastGood: LastGood?
        /// The last backup that tried this source (from `runs/backup.json`), if recorded.
        public var lastRun: RunRecord.Outcome?
        /// 1 or 0 for the metrics: the last run's outcome, else whether the newest snapshot of
        /// the source is good.
        public var lastBackupOK: Bool
        /// The newest verify recorded for a snapshot holding this source.
        public var lastVerify: LastVerify?
        /// The last stored `check` and `drill` results for this source: "consistent at TIME",
        /// "inconsistent at TIME", …; null when none covered it.
        public var lastCheck: String?
        public var lastDrill: String?
        public var holds: [Hold]

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(configured, forKey: .configured)
            try c.encode(lastGood, forKey: .lastGood)
            try c.encode(lastRun, forKey: .lastRun)
            try c.encode(lastBackupOK, forKey: .lastBackupOK)
            try c.encode(lastVerify, forKey: .lastVerify)
            try c.encode(lastCheck, forKey: .lastCheck)
            try c.encode(lastDrill, forKey: .lastDrill)
            try c.encode(holds, forKey: .holds)
        }
    }

    public var now: String
    public var sources: [Source]
    public var snapshots: Int
    public var holds: [Hold]
    public var archiveBytes: Int64
    public var freeBytes: Int64?
    /// Bytes the archive grew by per day over the last week of snapshots (nil: no snapshot).
    public var dailyGrowthBytes: Int64?
    /// How many more nights of backups the free space holds at that growth.
    public var nightsLeft: Int64?
    /// The newest successful verify of any snapshot (seconds since 1970), for the metrics.
    public var lastVerifySuccess: String?
    /// The last stored check's results (violations per check and rule), and the last drill.
    public var lastCheckResults: [CheckResult] = []
    public var lastDrillSuccess: String?
    /// With `status --max-age`: the limit, and the configured sources whose last good backup is
    /// older or missing (exit 83 when not empty).
    public var maxAgeSeconds: Double?
    public var staleSources: [String]?

    /// Reads the archive; the caller holds at least the reader lock.
    public static func gather(archive: Archive, configuration: Configuration, now: Date, logger: Logger) -> ArchiveHealth {
        let ids = (try? archive.snapshotIDs(ignored: { Warnings.notASnapshot($0, logger) })) ?? []
        let holds = archive.holds()
        let runs = RunRecord.loadBackup(from: archive)
        var manifests: [(SnapshotID, Manifest)] = []
        var verifies: [SnapshotID: VerifyRecord] = [:]
        for id in ids.reversed() { // newest first
            if let m = try? archive.manifest(of: id) { manifests.append((id, m)) }
            if let v = VerifyRecord.load(from: archive, id: id) { verifies[id] = v }
        }
        let check = StoredResult.load(ResultRecord.checkName, from: archive)
        let drill = StoredResult.load(ResultRecord.drillName, from: archive)
        var names = configuration.sources.map(\.name)
        for (_, m) in manifests { for s in m.sources where !names.contains(s.name) { names.append(s.name) } }

        let sources = names.map { name -> Source in
            let holding = manifests.filter { $0.1.sources.contains { $0.name == name } }
            var lastGood: LastGood?
            if let (id, m) = holding.first(where: { $0.1.sources.contains { $0.name == name && !$0.sourceDamaged } }),
               let s = m.sources.first(where: { $0.name == name }) {
                let started = Timestamp.parseISO(m.startedAt) ?? id.date ?? now
                let finished = Timestamp.parseISO(m.finishedAt) ?? started
                lastGood = LastGood(snapshot: id.rawValue, startedAt: m.startedAt, finishedAt: m.finishedAt,
                                    ageSeconds: max(0, now.timeIntervalSince(finished)),
                                    durationSeconds: (max(0, finished.timeIntervalSince(started)) * 1000).rounded() / 1000,
                                    compressedSize: s.compressedSize, uncompressedSize: s.uncompressedSize)
            }
            let lastVerify = holding.compactMap { id, _ in
                verifies[id].map { LastVerify(snapshot: id.rawValue, verdict: $0.verdict, ok: $0.ok, verifiedAt: $0.verifiedAt) }
            }.max { $0.verifiedAt < $1.verifiedAt }
            let run = runs.sources[name]
            let newestOK = holding.first.map { !$0.1.sources.contains { $0.name == name && $0.sourceDamaged } } ?? false
            return Source(name: name, configured: configuration.source(named: name) != nil, lastGood: lastGood, lastRun: run,
                          lastBackupOK: run?.ok ?? newestOK, lastVerify: lastVerify,
                          lastCheck: check?.summary(for: name), lastDrill: drill?.summary(for: name),
                          holds: holding.compactMap { holds[$0.0.rawValue] })
        }

        let archiveBytes = Self.bytes(under: archive.root)
        var fs = statvfs()
        let free: Int64? = statvfs(archive.root, &fs) == 0 ? Int64(fs.f_bavail) * Int64(fs.f_frsize) : nil
        let growth = Self.dailyGrowth(manifests.map { ($0.0.date ?? now, $0.1.compressedSize) })
        let nights = growth.flatMap { g in free.map { g > 0 ? $0 / g : Int64.max } }
        let lastVerifySuccess = verifies.values.filter(\.ok).map(\.verifiedAt).max()
        var health = ArchiveHealth(now: Timestamp.iso8601(now), sources: sources, snapshots: ids.count,
                                   holds: holds.values.sorted { $0.snapshot < $1.snapshot }, archiveBytes: archiveBytes,
                                   freeBytes: free, dailyGrowthBytes: growth, nightsLeft: nights,
                                   lastVerifySuccess: lastVerifySuccess)
        health.lastCheckResults = check?.result.results ?? []
        health.lastDrillSuccess = drill.flatMap { $0.result.verdict == "consistent" ? $0.finishedAt : nil }
        return health
    }

    /// `results/check.json` or `drill.json` as `check` and `drill` store them (ResultRecord).
    struct StoredResult: Decodable {
        struct Body: Decodable {
            var results: [CheckResult]
            var verdict: String
        }

        var finishedAt: String
        var result: Body

        static func load(_ name: String, from archive: Archive) -> StoredResult? {
            guard let bytes = ResultRecord.load(name, from: archive) else { return nil }
            return try? JSONDecoder().decode(StoredResult.self, from: Data(bytes))
        }

        /// This source's verdict: inconsistent if any of its results failed, incomplete if one
        /// could not run, else consistent; nil when no result was about it.
        func summary(for source: String) -> String? {
            let mine = result.results.filter { $0.source == source }
            guard !mine.isEmpty else { return nil }
            let verdict = mine.contains { $0.status == .fail } ? "inconsistent" : mine.contains { $0.status == .error } ? "incomplete" : "consistent"
            return "\(verdict) at \(finishedAt)"
        }
    }

    /// Per day over the week before the newest snapshot: the snapshots' compressed bytes (each
    /// snapshot is a full copy, so each adds its size) divided by the days they span (at least
    /// one: a single snapshot counts as one night's growth).
    static func dailyGrowth(_ snapshots: [(Date, Int64)]) -> Int64? {
        guard let newest = snapshots.map(\.0).max() else { return nil }
        let window = snapshots.filter { $0.0 > newest.addingTimeInterval(-7 * 86_400) }
        let oldest = window.map(\.0).min() ?? newest
        let days = newest.timeIntervalSince(oldest) / 86_400 + 1
        let total = window.map(\.1).reduce(Int64(0)) { $0.addingReportingOverflow($1).overflow ? .max : $0 + $1 }
        return Int64((Double(total) / days).rounded())
    }

    /// The bytes of every regular file under `root`, no link followed; not the lock files, whose
    /// content only names a running holder.
    static func bytes(under root: String) -> Int64 {
        var total: Int64 = 0
        func walk(_ path: String, depth: Int) {
            guard depth < 16, let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
            for name in names {
                let full = path + "/" + name
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFREG: if !(depth == 0 && name.hasSuffix(".lock")) { total += Int64(st.st_size) }
                case S_IFDIR: walk(full, depth: depth + 1)
                default: break
                }
            }
        }
        walk(root, depth: 0)
        return total
    }
}
