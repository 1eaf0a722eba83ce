import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata hold` and `ehrdata release`: a legal hold pins a snapshot against pruning until it is
/// released. Both take the writer lock, so neither interleaves with a prune (which holds it too).
public struct HoldEngine {
    public let configuration: Configuration
    public let logger: Logger
    public var lockWait: TimeInterval = 0

    public init(configuration: Configuration, logger: Logger, lockWait: TimeInterval = 0) {
        self.configuration = configuration
        self.logger = logger
        self.lockWait = lockWait
    }

    public struct Result: Codable, Sendable {
        public var snapshot: String
        public var held: Bool
        /// The hold written (hold), or the one removed (release), when readable.
        public var hold: Hold?
        /// hold: an earlier hold of the same snapshot was replaced.
        public var replaced: Hold?
    }

    /// Checks a reason before anything is opened: one line, not empty, at most 500 characters.
    public static func validate(reason: String) throws -> String {
        let text = reason.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else {
            throw EHRError(.usage, "the hold's reason is empty", hint: "say why, e.g. --reason 'litigation 2026-114'")
        }
        guard !text.contains(where: { $0.isNewline }), !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw EHRError(.usage, "the hold's reason must be one line of printable text", hint: "remove line breaks and control characters")
        }
        guard text.count <= HoldRecord.reasonLimit else {
            throw EHRError(.usage, "the hold's reason has \(text.count) characters, more than \(HoldRecord.reasonLimit)",
                           hint: "shorten it; refer to a ticket or case number")
        }
        return text
    }

    public func hold(_ selector: SnapshotSelector, reason: String) throws -> Result {
        let reason = try Self.validate(reason: reason)
        let archive = try Archive.open(at: configuration.archive)
        let lock = try ArchiveLock(archive: archive, mode: .writer, command: "hold", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(selector)
        let earlier = archive.holds()[id.rawValue]
        let record = HoldRecord(snapshot: id, reason: reason, heldBy: HoldRecord.currentUser, heldAt: TestHooks.now())
        try archive.writeHold(record)
        logger.info("snapshot held", metadata: ["snapshot": "\(id)"])
        MetricsFile.refresh(configuration, archive: archive, logger: logger)
        return Result(snapshot: id.rawValue, held: true,
                      hold: Hold(snapshot: id.rawValue, reason: reason, heldBy: record.heldBy, heldAt: record.heldAt, readable: true),
                      replaced: earlier)
    }

    public func release(_ selector: SnapshotSelector) throws -> Result {
        let archive = try Archive.open(at: configuration.archive)
        let lock = try ArchiveLock(archive: archive, mode: .writer, command: "release", wait: lockWait, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(selector)
        let earlier = archive.holds()[id.rawValue]
        guard try archive.removeHold(id) else {
            throw EHRError(.notFound, "snapshot \(id) is not held", hint: "'ehrdata status' lists the holds")
        }
        logger.info("hold released", metadata: ["snapshot": "\(id)"])
        MetricsFile.refresh(configuration, archive: archive, logger: logger)
        return Result(snapshot: id.rawValue, held: false, hold: earlier, replaced: nil)
    }
}
