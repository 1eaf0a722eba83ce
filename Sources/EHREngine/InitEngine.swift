import EHRArchive
import EHRConfig
import EHRCore
import Foundation

/// `ehrdata init`: creates the archive directory and, if there is none yet, a commented sample
/// configuration pointing at it. Never overwrites an existing config.
public struct InitEngine {
    public static let defaultArchive = "/var/backups/ehrdata"

    public init() {}

    public struct Result: Codable, Sendable {
        public var configPath: String
        public var configWritten: Bool
        public var archivePath: String
        public var archiveCreated: Bool
    }

    public func run(configPath: String, archive: String?) throws -> Result {
        var written = false
        let archivePath: String
        if FileSystem.exists(configPath) {
            let existing = try ConfigLoader.load(explicit: configPath)
            if let archive, absolute(archive) != existing.archive {
                throw EHRError(.targetExists,
                               "\(configPath) exists and names archive \(existing.archive), not \(absolute(archive))",
                               hint: "edit 'archive' in that file, or pass another --config")
            }
            archivePath = existing.archive
        } else {
            archivePath = absolute(archive ?? InitEngine.defaultArchive)
        }
        // The archive first: if it cannot be made, no config is left pointing at it.
        let (_, created) = try Archive.create(at: archivePath)
        if !FileSystem.exists(configPath) {
            let directory = (configPath as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileSystem.makeDirectories(directory) }
            try FileSystem.atomicWrite(Array(InitEngine.sampleConfig(archive: archivePath).utf8), to: configPath)
            written = true
        }
        return Result(configPath: configPath, configWritten: written, archivePath: archivePath, archiveCreated: created)
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }

    public static func sampleConfig(archive: String) -> String {
        """
        # ehrdata configuration (YAML). Every key is checked: a misspelled or unknown key is an
        # error naming its line. Run 'ehrdata config check' after editing.

        # Where snapshots are kept. Put it on a different disk from the databases it protects,
        # and never on tmpfs or a container's writable layer.
        archive: \(archive)

        # What one 'ehrdata backup' captures, all into one snapshot.
        sources:
          # A SQLite database file (the backend). Backed up online while it is in use.
          - name: backend
            kind: sqlite
            path: /var/lib/ehr/backend.sqlite
          # A PostgreSQL database (the FHIR server), as a libpq connection string. Keep the
          # password out of this file: use PGPASSWORD or ~/.pgpass.
          # - name: fhir
          #   kind: postgres
          #   connection: "host=127.0.0.1 port=5432 dbname=fhir user=ehrdata_backup"

        # How many snapshots 'ehrdata prune' keeps (restic's rules; a snapshot kept by any
        # rule stays; also keep_hourly, keep_yearly, keep_within: 36h). Days, weeks and months
        # are counted in time_zone (default: this host's).
        retention:
          keep_last: 7
          keep_daily: 14
          keep_weekly: 8
          keep_monthly: 12
          # time_zone: Europe/Berlin

        # A Prometheus textfile (node_exporter's textfile collector) rewritten by every command
        # that changes or checks the archive.
        # metrics:
        #   textfile: /var/lib/prometheus/node-exporter/ehrdata.prom

        # gzip level, 1 (fastest) to 9 (smallest); 6 is gzip's default.
        compression:
          level: 6

        """
    }
}
