import EHRArchive
import EHRCore
import Foundation
import Logging

/// Finishes or undoes what a killed restore left behind, from the intent records of dead
/// writers (docs/ARCHIVE-FORMAT.md, "Intent records"). Every command that opens the archive
/// runs it first and says what it did in a warning; it never stops the command itself.
struct IntentRecovery {
    let archive: Archive
    let logger: Logger
    /// PostgreSQL work databases are dropped only for these sources (the restore of that
    /// source, which knows its server from the config); other records of that kind wait.
    var postgresConnections: [String: String] = [:]

    /// Returns the sources whose leftovers could not be dealt with, with the reason.
    @discardableResult
    func run() -> [String: String] {
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
                    guard try recover(record) else { continue }
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
    private func recover(_ record: IntentRecord) throws -> Bool {
        let metadata: Logger.Metadata = ["source": "\(record.source)", "snapshot": "\(record.snapshot)", "pid": "\(record.pid)"]
        switch record.kind {
        case .sqlite:
            guard let sqlite = record.sqlite else { return true }
            let outcome = try SQLiteRestore.recover(sqlite, phase: record.phase)
            switch outcome {
            case .completed:
                logger.warning("an interrupted in-place restore had finished its renames: the restored database is in place, the replaced files are kept beside it",
                               metadata: metadata.merging(["target": "\(sqlite.target)"]) { a, _ in a })
            case .rolledBack:
                logger.warning("undid an interrupted in-place restore: the database and its companion files are back where they were",
                               metadata: metadata.merging(["target": "\(sqlite.target)"]) { a, _ in a })
            case .cleaned(let removed) where removed:
                logger.warning("removed the temp file of an interrupted restore", metadata: metadata.merging(["temp": "\(sqlite.temp)"]) { a, _ in a })
            case .cleaned:
                break
            }
            return true
        case .postgres:
            guard let connection = postgresConnections[record.source] else { return false }
            if let work = record.postgres?.workDatabase, try PostgresRestore.dropLeftover(work, connectionString: connection) {
                logger.warning("dropped the work database of an interrupted restore", metadata: metadata.merging(["database": "\(work)"]) { a, _ in a })
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
