import EHRArchive
import EHRCore
import Foundation
import Logging
import Prometheus

/// The Prometheus text (node_exporter's textfile-collector convention) for the archive's health,
/// and the file `metrics.textfile` names, rewritten atomically by every command that changes or
/// checks the archive.
public enum MetricsFile {
    /// The exposition text. Each family is emitted from its own swift-prometheus registry, in a
    /// fixed order, so the same health gives the same bytes (one registry emits in hash order).
    public static func render(_ health: ArchiveHealth) -> String {
        var families: [PrometheusCollectorRegistry] = []
        func family(_ name: String, _ help: String, _ series: [([(String, String)], Double)]) {
            guard !series.isEmpty else { return }
            let registry = PrometheusCollectorRegistry()
            for (labels, value) in series {
                registry.makeGauge(name: name, labels: labels, help: help).set(to: value)
            }
            families.append(registry)
        }
        let good = health.sources.filter { $0.lastGood != nil }
        func seconds(_ iso: String) -> Double? { Timestamp.parseISO(iso)?.timeIntervalSince1970 }
        family("ehrdata_backup_last_success_timestamp_seconds",
               "When the newest snapshot holding the source undamaged finished (seconds since 1970).",
               good.compactMap { s in seconds(s.lastGood!.finishedAt).map { ([("source", s.name)], $0) } })
        family("ehrdata_backup_success", "1 if the last backup of the source published it undamaged, else 0.",
               health.sources.map { ([("source", $0.name)], $0.lastBackupOK ? 1 : 0) })
        family("ehrdata_backup_duration_seconds", "How long the last successful backup of the source took.",
               good.map { ([("source", $0.name)], $0.lastGood!.durationSeconds) })
        family("ehrdata_backup_size_bytes", "The source's size in its last successful backup, before and after compression.",
               good.flatMap { s in [([("source", s.name), ("stage", "uncompressed")], Double(s.lastGood!.uncompressedSize)),
                                    ([("source", s.name), ("stage", "compressed")], Double(s.lastGood!.compressedSize))] })
        family("ehrdata_snapshots", "Published snapshots in the archive.", [([], Double(health.snapshots))])
        family("ehrdata_archive_size_bytes", "Bytes of all files in the archive.", [([], Double(health.archiveBytes))])
        family("ehrdata_verify_last_success_timestamp_seconds", "When a verify last passed, of any snapshot (seconds since 1970).",
               health.lastVerifySuccess.flatMap(seconds).map { [([], $0)] } ?? [])
        family("ehrdata_holds", "Snapshots under a legal hold.", [([], Double(health.holds.count))])
        family("ehrdata_check_violations", "Violations found by the last check, per check or rule and source.",
               health.lastCheckResults.map { ([("rule", $0.name), ("source", $0.source)], Double($0.violations)) })
        family("ehrdata_drill_last_success_timestamp_seconds", "When the last restore drill passed, if the last one did (seconds since 1970).",
               health.lastDrillSuccess.flatMap(seconds).map { [([], $0)] } ?? [])
        // The run that wrote this file: its id is in its log lines and manifest too.
        family("ehrdata_last_run_info", "The ehrdata run that last wrote this file (value: when, seconds since 1970).",
               [([("run", RunID.current)], Double(Int(Date().timeIntervalSince1970)))])
        if let free = health.freeBytes {
            family("ehrdata_archive_free_bytes", "Free bytes on the archive's filesystem.", [([], Double(free))])
        }
        return families.map { $0.emitToString() }.joined()
    }

    /// Rewrites the configured file, if any; a failure is a warning (the command's own result
    /// stands). The caller holds the archive lock.
    public static func refresh(_ configuration: Configuration, archive: Archive, logger: Logger) {
        guard let path = configuration.metrics.textfile else { return }
        let health = ArchiveHealth.gather(archive: archive, configuration: configuration, now: TestHooks.now(), logger: logger)
        do {
            // 0644: node_exporter runs as its own user; the file holds no patient data.
            try FileSystem.atomicWrite(Array(render(health).utf8), to: path, mode: 0o644)
        } catch {
            logger.warning("could not write the metrics file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}
