import EHRArchive
import EHRCore
import Foundation
import Logging

/// Finishes or undoes what a killed restore left behind, from the intent records of dead
/// writers (docs/ARCHIVE-FORMAT.md, "Intent records"). Every command that opens the archive
/// runs it first and says what it did in a warning; it never stops the command itself.
///
/// A record is untrusted input like everything in the archive: it is acted on only where it
/// matches what this host's config and ehrdata's own naming say a restore would have done, and
/// only while holding the archive's writer lock, so that no in-place restore runs meanwhile.
struct IntentRecovery {
    let archive: Archive
    let logger: Logger
    /// Each SQLite source's configured path: an in-place record is undone only at its source's.
    var sqlitePaths: [String: String]
    /// PostgreSQL work databases are dropped only for these sources (the restore of that
    /// source, which knows its server from the config); other records of that kind wait.
    var postgresConnections: [String: String] = [:]

    init(archive: Archive, logger: Logger, sqlitePaths: [String: String], postgresConnections: [String: String] = [:]) {
        self.archive = archive
        self.logger = logger
        self.sqlitePaths = sqlitePaths
        self.postgresConnections = postgresConnections
    }

    /// Returns the sources whose leftovers could not be dealt with, with the reason.
    /// `holdingWriteLock`: the caller is a writer; a reader takes the writer lock for the
    /// moment of recovery if it is free, and otherwise leaves recovery to a later command.
    @discardableResult
    func run(holdingWriteLock: Bool) -> [String: String] {
        guard archive.hasIntents() else { return [:] }
        var borrowed: ArchiveLock?
        if !holdingWriteLock {
            borrowed = ArchiveLock.tryWriter(archive: archive, command: "recovery")
            guard borrowed != nil else {
                logger.info("another ehrdata command is writing; leaving interrupted restores' records to a later command")
                return [:]
            }
        }
        defer { withExtendedLifetime(borrowed) {} }
        var failures: [String: String] = [:]
        let dead: [DeadIntent]
        do { dead = try archive.deadIntents() } catch {
            logger.warning("cannot read the archive's intent records", metadata: ["reason": "\(Self.reason(error))"])
            return failures
        }
        for intent in dead {
            switch intent.content {
            case .newer(let version):
                logger.warning("leaving an intent record of a newer ehrdata alone",
                               metadata: ["record": "\(intent.name)", "version": "\(version)"])
            case .unreadable:
                logger.warning("removing an unreadable intent record (its writer died while writing it, before acting)",
                               metadata: ["record": "\(intent.name)"])
                remove(intent)
            case .record(let record):
                do {
                    guard try recover(record, name: intent.name) else { continue }
                    remove(intent)
                } catch {
                    failures[record.source] = Self.reason(error)
                    logger.warning("could not finish or undo an interrupted restore; see docs/RUNBOOK.md", metadata: [
                        "source": "\(record.source)", "record": "\(intent.name)", "reason": "\(Self.reason(error))",
                    ])
                }
            }
        }
        return failures
    }

    /// Acts on one record of a dead writer; false when it is left for a later command.
    private func recover(_ record: IntentRecord, name: String) throws -> Bool {
        var metadata: Logger.Metadata = ["source": "\(record.source)", "snapshot": "\(record.snapshot)", "pid": "\(record.pid)"]
        switch record.kind {
        case .sqlite:
            guard let sqlite = record.sqlite else { return true }
            guard record.host == ProcessInfo.processInfo.hostName else {
                logger.warning("leaving the intent record of a restore on another host alone",
                               metadata: metadata.merging(["record": "\(name)", "host": "\(record.host)"]) { a, _ in a })
                return false
            }
            if let problem = SQLiteRestore.recordProblem(sqlite, phase: record.phase, pid: record.pid,
                                                          configuredPath: sqlitePaths[record.source]) {
                guard sqlitePaths[record.source] != nil || !sqlite.inPlace else { return false } // a command without that source's config
                logger.warning("ignoring an intent record that does not describe a restore of this config; nothing was changed",
                               metadata: metadata.merging(["record": "\(name)", "problem": "\(problem)"]) { a, _ in a })
                return true
            }
            metadata["target"] = "\(sqlite.target)"
            switch try SQLiteRestore.recover(sqlite, phase: record.phase) {
            case .completed:
                logger.warning("an interrupted in-place restore had finished its renames: the restored database is in place, the replaced files are kept beside it",
                               metadata: metadata)
            case .rolledBack:
                logger.warning("undid an interrupted in-place restore: the database and its companion files are back where they were",
                               metadata: metadata)
            case .cleaned(let removed) where removed:
                logger.warning("removed the temp file of an interrupted restore", metadata: metadata)
            case .cleaned:
                break
            }
            return true
        case .postgres:
            guard let connection = postgresConnections[record.source], let postgres = record.postgres else { return false }
            switch try PostgresRestore.dropLeftover(postgres, connectionString: connection) {
            case .dropped(let database):
                logger.warning("dropped the work database of an interrupted restore", metadata: metadata.merging(["database": "\(database)"]) { a, _ in a })
            case .notOurs(let database):
                logger.warning("left a database alone that an intent record names but that does not look like a restore's own; the record is removed",
                               metadata: metadata.merging(["database": "\(database)"]) { a, _ in a })
            case .gone:
                break
            }
            return true
        }
    }

    private func remove(_ intent: DeadIntent) {
        do { try intent.remove() } catch {
            logger.warning("cannot remove an intent record", metadata: ["record": "\(intent.name)", "reason": "\(Self.reason(error))"])
        }
    }

    static func reason(_ error: Error) -> String { (error as? EHRError)?.message ?? "\(error)" }
}
