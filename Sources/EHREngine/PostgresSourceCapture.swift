import EHRArchive
import EHRCore
import EHRPostgres
import Foundation
import Logging

/// Copies one PostgreSQL database into a staged snapshot, every table from one MVCC snapshot.
///
/// A coordinator lists the tables, then in a REPEATABLE READ, READ ONLY transaction takes ACCESS
/// SHARE locks on all of them *before* its snapshot is frozen (so a TRUNCATE or table rewrite
/// cannot slip in between and make a table look empty), exports the snapshot, and stays open while
/// pg_dump captures the schema and `jobs` workers COPY the tables under `SET TRANSACTION SNAPSHOT`.
/// COPY text streams through the archive's gzip and SHA-256 path with a content digest per table.
/// A transient failure restarts the whole source under a new snapshot, with backoff.
struct PostgresSourceCapture {
    let source: SourceConfig
    let compression: Compression
    let jobs: Int
    let retries: Int
    let logger: Logger

    /// Member size of table data files (see `copy`).
    static let tableMemberSize = 1 << 20

    /// Session settings that make COPY text the same on every server and every run.
    /// `row_security = off` makes a role subject to row-level security fail loudly instead of
    /// silently copying only the rows it may see (as pg_dump does).
    static let copySettings: [String: String] = [
        "DateStyle": "ISO, YMD", "IntervalStyle": "postgres", "extra_float_digits": "3", "TimeZone": "UTC",
        "client_encoding": "UTF8", "bytea_output": "hex", "standard_conforming_strings": "on", "row_security": "off",
    ]

    static func applySettings(_ settings: [String: String], on connection: PostgresConnection) throws {
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            try connection.execute("SET \(key) = \(connection.literal(value))")
        }
    }

    var connectionString: String { source.connection ?? "" }

    func capture(into snapshot: StagedSnapshot) throws -> Manifest.Source {
        var attempt = 0
        while true {
            let directory = snapshot.dataDirectory + "/" + source.name
            do {
                try FileSystem.makeDirectory(directory)
                try FileSystem.makeDirectory(directory + "/tables")
                return try attemptCapture(into: snapshot)
            } catch let error as PostgresError where error.isTransient && attempt < retries {
                attempt += 1
                let delay = min(30.0, pow(2.0, Double(attempt - 1)))
                logger.warning("transient PostgreSQL failure; retrying the whole source under a new snapshot", metadata: [
                    "source": "\(source.name)", "attempt": "\(attempt)", "of": "\(retries)",
                    "delay_s": "\(delay)", "sqlstate": "\(error.sqlState ?? "none")", "error": "\(error.message)",
                ])
                try FileSystem.removeTree(directory)
                Thread.sleep(forTimeInterval: delay)
            }
        }
    }

    private func connect() throws -> PostgresConnection {
        try PostgresConnection(connectionString: connectionString, overrides: [("application_name", "ehrdata backup")])
    }

    private func attemptCapture(into snapshot: StagedSnapshot) throws -> Manifest.Source {
        let tools = try PostgresTools.locate()
        let coordinator = try connect()
        let catalog = PostgresCatalog(coordinator)
        let db = try catalog.database()
        let dump = try tools.majorVersion()
        guard dump.major >= db.serverVersionNum / 10000 else {
            throw EHRError(.failure, "source '\(source.name)': \(dump.text) cannot dump server \(db.serverVersion)",
                           hint: "install the PostgreSQL \(db.serverVersionNum / 10000) client tools (pg_dump refuses newer servers)")
        }
        let listed = try catalog.tables()

        // Locks before the snapshot: in REPEATABLE READ the snapshot freezes at the first query,
        // and LOCK TABLE is not one.
        try coordinator.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try coordinator.execute("SET LOCAL lock_timeout = '60s'")
        try lock(listed, on: coordinator, nowait: false)
        let exported = try coordinator.value("SELECT pg_export_snapshot()") ?? ""
        let wal = try catalog.walPosition()
        let tables = try catalog.tables()
        guard Set(tables.map { "\($0.schema).\($0.name)" }) == Set(listed.map { "\($0.schema).\($0.name)" }) else {
            throw PostgresError(sqlState: "40001", message: "the set of tables changed while the backup started",
                                context: "locking the tables")
        }
        let sequences = try catalog.sequences().map { s -> Manifest.PostgresSequence in
            let state = try catalog.sequenceState(s)
            return .init(schema: s.schema, name: s.name, lastValue: state.lastValue, isCalled: state.isCalled)
        }
        let views = try catalog.materializedViews().map {
            Manifest.PostgresMaterializedView(schema: $0.0.schema, name: $0.0.name, populated: $0.populated)
        }
        let roles = try recordableRoles(catalog)
        logger.info("postgres snapshot exported", metadata: [
            "source": "\(source.name)", "tables": "\(tables.count)", "wal_lsn": "\(wal)",
        ])
        // Every worker joins the snapshot and takes its own locks, and pg_dump reads the schema,
        // right away: the sooner all locks are held, the smaller the window in which a TRUNCATE
        // can queue up behind the coordinator's locks (see `lockAll`).
        TestHooks.checkpoint("postgres-before-workers")
        let workers = try (0..<max(1, min(jobs, tables.count))).map { _ in try joinSnapshot(exported, tables: tables) }
        let schemaFile = try captureSchema(tools: tools, snapshot: exported, into: snapshot)
        TestHooks.checkpoint("postgres-after-snapshot")

        let handOut = HandOut(workers)
        let copied = try ParallelJobs.run(count: tables.count, workers: workers.count, makeState: {
            try handOut.take()
        }, job: { worker, index in
            try copy(tables[index], number: index, from: worker, into: snapshot)
        })
        try coordinator.execute("COMMIT")

        let info = Manifest.PostgresInfo(
            serverVersion: db.serverVersion, serverVersionNum: db.serverVersionNum, database: db.name,
            encoding: db.encoding, collate: db.collate, ctype: db.ctype, snapshot: exported, walLSN: wal,
            pgDumpVersion: dump.text, copySettings: Self.copySettings, tables: copied.map(\.table),
            sequences: sequences, materializedViews: views, roles: roles)
        return Manifest.Source(name: source.name, kind: .postgres, postgres: info,
                               files: [schemaFile] + copied.map(\.file))
    }

    /// The roles the database names, read in the snapshot's transaction (roles are cluster-wide,
    /// so this is as exact as it needs to be). More than a reader accepts: left out with a
    /// warning, and the snapshot restores as one taken before roles were recorded.
    private func recordableRoles(_ catalog: PostgresCatalog) throws -> [Manifest.PostgresRole]? {
        let roles = try catalog.roles()
        guard roles.count <= Manifest.maxRoles else {
            logger.warning("the database names more roles than a snapshot records; roles left out of the manifest",
                           metadata: ["source": "\(source.name)", "roles": "\(roles.count)", "limit": "\(Manifest.maxRoles)"])
            return nil
        }
        return roles
    }

    /// A worker connection in the exported snapshot, holding ACCESS SHARE on every table.
    private func joinSnapshot(_ exported: String, tables: [PostgresCatalog.Table]) throws -> PostgresConnection {
        let worker = try connect()
        try worker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try worker.execute("SET TRANSACTION SNAPSHOT \(worker.literal(exported))")
        try Self.applySettings(Self.copySettings, on: worker)
        try lock(tables, on: worker, nowait: true)
        return worker
    }

    /// ACCESS SHARE on every table, 500 per statement. Workers pass `nowait`: the coordinator
    /// already holds ACCESS SHARE on every table, so a wait there can only mean an exclusive lock
    /// (TRUNCATE, a rewriting ALTER) is queued behind it, and waiting would deadlock with a
    /// coordinator PostgreSQL cannot see. NOWAIT fails at once instead; the whole source then
    /// restarts under a new snapshot once that statement has gone through (pg_dump -j does the
    /// same).
    private func lock(_ tables: [PostgresCatalog.Table], on connection: PostgresConnection, nowait: Bool) throws {
        for chunk in stride(from: 0, to: tables.count, by: 500) {
            let names = tables[chunk..<min(tables.count, chunk + 500)]
                .map { PostgresConnection.qualified($0.schema, $0.name) }.joined(separator: ", ")
            try connection.execute("LOCK TABLE \(names) IN ACCESS SHARE MODE\(nowait ? " NOWAIT" : "")")
        }
    }

    /// pg_dump's schema (custom format, schema only) under the exported snapshot. It has no
    /// sequence values and no materialized-view data: the manifest carries those.
    private func captureSchema(tools: PostgresTools, snapshot exported: String, into snapshot: StagedSnapshot) throws -> Manifest.File {
        let writer = try snapshot.dataFile(named: "\(source.name)/schema.pgdump", role: "postgres-schema", compression: compression)
        let env = try PostgresTools.environment(for: connectionString, overrides: ["PGAPPNAME": "ehrdata backup"])
        // Same reasoning as the workers' NOWAIT: pg_dump's own ACCESS SHARE locks can only wait
        // behind an exclusive lock that waits for us, so it gives up quickly and we retry.
        try tools.stream("pg_dump", ["--schema-only", "--format=custom", "--compress=0", "--snapshot=\(exported)",
                                     "--no-sync", "--lock-wait-timeout=5000"], environment: env) { try writer.write($0) }
        return try writer.finish()
    }

    private func copy(_ table: PostgresCatalog.Table, number: Int, from worker: PostgresConnection,
                      into snapshot: StagedSnapshot) throws -> (table: Manifest.PostgresTable, file: Manifest.File) {
        let name = "\(source.name)/tables/\(String(format: "%05d", number)).copy"
        // Every job may compress on every core, so a job copying one big table is not held to
        // one core once the others have finished. Memory stays bounded by what each job keeps in
        // flight: its share of the cores (at least two members), of 1 MiB rather than the
        // default 4 (measured on 2 cores: peak RSS 58 MiB instead of 107, files 0.07% larger).
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let writer = try snapshot.dataFile(named: name, role: "postgres-table", compression: compression, workers: cores,
                                           memberSize: Self.tableMemberSize, membersInFlight: max(2, cores / jobs))
        var digest = ContentDigest()
        var hasher = RowHasher(hashedFields: table.binaryColumns.compactMap { table.columns.firstIndex(of: $0) })
        let columns = table.columns.map(PostgresConnection.identifier).joined(separator: ", ")
        try worker.copyOut("COPY \(PostgresConnection.qualified(table.schema, table.name)) (\(columns)) TO STDOUT") { row in
            try hasher.add(row: row, to: &digest)
            try writer.write(row)
        }
        let file = try writer.finish()
        return (Manifest.PostgresTable(schema: table.schema, name: table.name, columns: table.columns, rows: digest.rows,
                                       digest: digest.text, file: file.path,
                                       hashedColumns: table.binaryColumns.isEmpty ? nil : table.binaryColumns), file)
    }
}

/// Hands connections opened on one thread to the worker threads, one each.
/// `@unchecked Sendable`: guarded by `lock`, and each connection goes to exactly one thread.
private final class HandOut: @unchecked Sendable {
    private let lock = NSLock()
    private var connections: [PostgresConnection]

    init(_ connections: [PostgresConnection]) { self.connections = connections }

    func take() throws -> PostgresConnection {
        try lock.withLock {
            guard !connections.isEmpty else {
                throw PostgresError(message: "no worker connection left", context: "starting COPY workers")
            }
            return connections.removeLast()
        }
    }
}
