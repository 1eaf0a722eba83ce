#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRPostgres
import Foundation
import Logging

/// One source of a drill restored into a scratch place, under an intent record held until the
/// copy is removed: a SQLite restore's temp file (never renamed into place), or a PostgreSQL
/// restore's new database (never published, its leftover mark kept as its comment).
final class ScratchCopy {
    let source: Manifest.Source
    private let sqlite: SQLiteRestore?
    private let postgres: PostgresRestore?
    private let server: String?
    private let intent: HeldIntent?
    private let logger: Logger

    init(source: Manifest.Source, archive: Archive, snapshot: SnapshotID, stamp: String, scratch: String,
         server: String?, logger: Logger) throws {
        self.source = source
        self.server = server
        self.logger = logger
        switch source.kind {
        case .sqlite:
            guard source.sqlite != nil, source.files.count == 1 else {
                throw EHRError(.verificationFailed, "source '\(source.name)' is malformed in the manifest",
                               hint: "this snapshot is damaged; use another snapshot")
            }
            let target = scratch + "/ehrdata-drill-\(stamp)-\(source.name).sqlite"
            let restore = SQLiteRestore(archive: archive, snapshot: snapshot, source: source, target: target)
            sqlite = restore
            postgres = nil
            intent = try Self.hold(archive, IntentRecord(kind: .sqlite, snapshot: snapshot, source: source.name,
                                                         sqlite: .init(target: target, temp: restore.temp, inPlace: false)), logger)
        case .postgres:
            let name = "ehrdata_drill_\(stamp.replacingOccurrences(of: "T", with: "_"))_\(getpid())_\(source.name.prefix(20))"
                .lowercased().replacingOccurrences(of: "-", with: "_")
            let restore = try PostgresRestore(archive: archive, snapshot: snapshot, source: source, connectionString: server ?? "",
                                              mode: .newDatabase(name),
                                              options: .init(owners: false, privileges: false, createRoles: false,
                                                             jobs: ProcessInfo.processInfo.activeProcessorCount),
                                              logger: logger)
            restore.keepsLeftoverMark = true
            try restore.preflight()
            if try restore.workExists() {
                throw EHRError(.targetExists, "scratch database \(name) exists already", hint: "retry in a second")
            }
            sqlite = nil
            postgres = restore
            intent = try Self.hold(archive, IntentRecord(kind: .postgres, snapshot: snapshot, source: source.name,
                                                         postgres: .init(workDatabase: name, mark: restore.leftoverMark)), logger)
        }
    }

    /// A read-only archive holds no record: the drill goes on, and a kill leaves its copy.
    private static func hold(_ archive: Archive, _ record: IntentRecord, _ logger: Logger) throws -> HeldIntent? {
        do { return try HeldIntent(archive: archive, record: record) } catch {
            logger.warning("no intent record written (read-only archive?): if this drill is killed, remove its scratch copy by hand",
                           metadata: ["source": "\(record.source)"])
            return nil
        }
    }

    func materialize() throws {
        if let sqlite { try sqlite.materialize() }
        if let postgres {
            try postgres.materialize()
            try installAmcheck(postgres)
        }
    }

    /// amcheck in the scratch database, when the server has it: the only place check creates it.
    private func installAmcheck(_ restore: PostgresRestore) throws {
        let db = try restore.connect(to: restore.work)
        if try db.value("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'") != "0" {
            try db.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        }
    }

    var target: CheckTarget {
        if let sqlite { return .sqlite(path: sqlite.temp) }
        return .postgres(connection: server ?? "", database: postgres!.work)
    }

    /// Removes the copy, then its record; a copy that could not be removed keeps its record, so
    /// the next command tries again.
    func remove() {
        sqlite?.discardTemp()
        postgres?.discard()
        if let postgres, let server, (try? PostgresRestore.dropLeftover(.init(workDatabase: postgres.work, mark: postgres.leftoverMark),
                                                                          connectionString: server)) == nil {
            logger.warning("could not remove the scratch database; the next drill removes it", metadata: ["database": "\(postgres.work)"])
            intent?.abandon()
            return
        }
        intent?.finish()
    }
}
