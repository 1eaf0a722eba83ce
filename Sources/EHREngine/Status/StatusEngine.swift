import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata status` and `ehrdata metrics`: the archive's health, read under the reader lock
/// (a backup does not block it). `--max-age` turns a stale or missing backup into exit 83.
public struct StatusEngine {
    public let configuration: Configuration
    public let logger: Logger
    public var lockWait: TimeInterval = 0

    public init(configuration: Configuration, logger: Logger, lockWait: TimeInterval = 0) {
        self.configuration = configuration
        self.logger = logger
        self.lockWait = lockWait
    }

    public func run(maxAge: Double? = nil) throws -> ArchiveHealth {
        let archive = try Archive.open(at: configuration.archive)
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "status", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        var health = ArchiveHealth.gather(archive: archive, configuration: configuration, now: TestHooks.now(), logger: logger)
        if let maxAge {
            health.maxAgeSeconds = maxAge
            health.staleSources = Self.stale(health, maxAge: maxAge).map(\.name)
        }
        return health
    }

    /// The configured sources whose last good backup is older than `maxAge` seconds, or missing.
    public static func stale(_ health: ArchiveHealth, maxAge: Double) -> [ArchiveHealth.Source] {
        health.sources.filter { $0.configured && ($0.lastGood.map { $0.ageSeconds > maxAge } ?? true) }
    }
}
