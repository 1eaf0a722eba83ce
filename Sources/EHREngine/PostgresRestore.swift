import EHRArchive
import EHRCore
import EHRPostgres
import Foundation
import Logging

/// One PostgreSQL source coming back from a snapshot, in pg_restore's order: schema before data
/// (types, tables, functions, views), data in parallel, then indexes, constraints, triggers and
/// rules (so a BEFORE INSERT trigger never fires on restored rows), then sequence values and the
/// refresh of exactly the materialized views that were populated. The loaded database is
/// verified (row counts and content digests of every table, sequence values) before anything
/// else happens; in place, only then is it swapped with the original, which is renamed, never
/// dropped.
final class PostgresRestore {
    enum Mode {
        case newDatabase(String)
        case inPlace(stamp: String)
    }

    struct Options {
        var owners = true
        var privileges = true
        /// Create the recorded roles the target server lacks (see PostgresRestore+Roles.swift).
        var createRoles = false
        var jobs = ProcessInfo.processInfo.activeProcessorCount
    }

    let archive: Archive
    let snapshot: SnapshotID
    let source: Manifest.Source
    let info: Manifest.PostgresInfo
    let connectionString: String
    let mode: Mode
    let options: Options
    let logger: Logger
    /// The database named by the connection string (in place: the one replaced).
    let original: String
    /// Where the data is loaded.
    let work: String
    private var createdWork = false
    /// The work database's comment while it is loaded, also in the intent record: what marks a
    /// `--to-database` leftover as this restore's own (PostgresRestore+Leftovers.swift).
    let leftoverMark = "ehrdata restore in progress " + (0..<4).map { _ in String(UInt32.random(in: 0 ... .max), radix: 16) }.joined()
    /// Roles this restore created, and the attributes they had that it did not grant.
    var createdRoles: [String] = []
    var attributesNotGranted: [RestoreEngine.RoleAttribute] = []
    private var published = false
    /// drill: the scratch database keeps its mark after the load, so that a drill killed during
    /// its checks leaves a database the next one drops (PostgresRestore+Leftovers.swift).
    var keepsLeftoverMark = false

    static let nameLimit = 63

    init(archive: Archive, snapshot: SnapshotID, source: Manifest.Source, connectionString: String, mode: Mode,
         options: Options, logger: Logger) throws {
        guard let info = source.postgres else {
            throw EHRError(.verificationFailed, "source '\(source.name)' has no postgres section in its manifest",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        self.archive = archive
        self.snapshot = snapshot
        self.source = source
        self.info = info
        self.connectionString = connectionString
        self.mode = mode
        self.options = options
        self.logger = logger
        original = try PostgresConnection.parse(connectionString).last { $0.keyword == "dbname" }?.value ?? info.database
        switch mode {
        case .newDatabase(let name): work = name
        case .inPlace(let stamp): work = "\(original)_restoring_\(stamp)"
        }
        try Self.checkName(work)
        if case .inPlace = mode { try Self.checkName(keptName) }
    }

    var keptName: String {
        guard case .inPlace(let stamp) = mode else { return original }
        return "\(original)_pre_restore_\(stamp)"
    }

    var target: String {
        if case .newDatabase(let name) = mode { return name }
        return original
    }

    /// PostgreSQL cuts longer names silently; we refuse instead.
    static func checkName(_ name: String) throws {
        guard name.utf8.count <= nameLimit else {
            throw EHRError(.usage, "database name '\(name)' would be \(name.utf8.count) bytes; PostgreSQL allows \(nameLimit)",
                           hint: "restore with --to-database and a shorter name")
        }
    }

    func admin() throws -> PostgresConnection {
        let maintenance = target == "postgres" || original == "postgres" ? "template1" : "postgres"
        return try PostgresConnection(connectionString: connectionString,
                                      overrides: [("dbname", maintenance), ("application_name", "ehrdata restore")])
    }

    func connect(to database: String) throws -> PostgresConnection {
        try PostgresConnection(connectionString: connectionString,
                               overrides: [("dbname", database), ("application_name", "ehrdata restore")])
    }

    /// Sessions connected to the original now (ended at the swap, as the plan says).
    func sessionsOnOriginal() throws -> Int {
        let admin = try admin()
        return Int(try admin.value("SELECT count(*) FROM pg_stat_activity WHERE datname = \(admin.literal(original))") ?? "0") ?? 0
    }

    /// Checks that can fail before anything is created.
    func preflight() throws {
        let admin = try admin()
        let major = admin.serverVersion / 10000, snapshotMajor = info.serverVersionNum / 10000
        guard major >= snapshotMajor else {
            throw EHRError(.unsupportedFormat,
                           "snapshot of PostgreSQL \(snapshotMajor) cannot be restored into older PostgreSQL \(major)",
                           hint: "restore into a server of version \(snapshotMajor) or newer")
        }
        if case .newDatabase(let name) = mode, try databaseExists(name, admin), !(try isEmpty(name)) {
            throw EHRError(.targetExists, "database \(name) exists and is not empty; restore never writes into a used database",
                           hint: "choose a new --to-database name")
        }
        if case .inPlace = mode {
            for name in [work, keptName] where try databaseExists(name, admin) {
                throw EHRError(.targetExists, "database \(name) already exists", hint: "retry in a second")
            }
        }
        try checkRoles(admin)
    }

    func databaseExists(_ name: String, _ admin: PostgresConnection) throws -> Bool {
        try admin.value("SELECT count(*) FROM pg_database WHERE datname = \(admin.literal(name))") != "0"
    }

    private func isEmpty(_ name: String) throws -> Bool {
        let db = try connect(to: name)
        return try db.value("""
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
            """) == "0"
    }

    /// Creates (if needed), loads and verifies the work database. A database that existed (an
    /// empty `--to-database` target) is not ehrdata's to drop, so a failure there leaves part of
    /// the load in it: the error says so.
    func materialize() throws {
        try preflight()
        do { try load() } catch {
            guard case .newDatabase(let name) = mode, !createdWork, published == false else { throw error }
            var e = ErrorMapping.map(error, source: source.name) as? EHRError ?? EHRError(.failure, "\(error)")
            e.hint = (e.hint.map { $0 + "; " } ?? "") + "the existing database \(name) now holds part of the load: drop and recreate it (dropdb, createdb) before retrying"
            throw e
        }
    }

    private func load() throws {
        let admin = try admin()
        try createMissingRoles(admin)
        if try !databaseExists(work, admin) {
            try admin.execute("""
                CREATE DATABASE \(PostgresConnection.identifier(work)) TEMPLATE template0
                ENCODING \(admin.literal(info.encoding)) LC_COLLATE \(admin.literal(info.collate)) LC_CTYPE \(admin.literal(info.ctype))
                """)
            createdWork = true
            try admin.execute("COMMENT ON DATABASE \(PostgresConnection.identifier(work)) IS \(admin.literal(leftoverMark))")
        }
        let tools = try PostgresTools.locate()
        let scratch = try TempPath(in: NSTemporaryDirectory(), name: "schema.pgdump")
        defer { scratch.remove() }
        try phase("schema") {
            try extractSchema(to: scratch.file)
            try pgRestore(tools, section: "pre-data", file: scratch.file)
        }
        try phase("data") { try loadTables() }
        TestHooks.checkpoint("postgres-before-verify")
        // Indexes and constraints build in parallel, as pg_restore -j does, while the tables are
        // read back: the build of one big index leaves the other connections idle for seconds
        // (docs/POSTGRES.md, "How a restore works"). A failed build is reported before a failed
        // check, as when they ran one after the other.
        try phase("post-data and table verification") {
            try ParallelJobs.alongside({ try self.pgRestore(tools, section: "post-data", file: scratch.file, jobs: self.options.jobs) },
                                       { try verifyTables() })
        }
        try phase("sequences and views") {
            try finishSequencesAndViews()
            try verifySequences()
        }
        if createdWork, !keepsLeftoverMark { try admin.execute("COMMENT ON DATABASE \(PostgresConnection.identifier(work)) IS NULL") }
        logger.info("postgres database loaded and verified", metadata: ["source": "\(source.name)", "database": "\(work)"])
    }

    /// Runs one step and logs how long it took (operators compare this with pg_restore's run).
    private func phase(_ name: String, _ body: () throws -> Void) throws {
        let clock = ContinuousClock(), start = clock.now
        try body()
        let elapsed = (clock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        logger.info("restore step done", metadata: ["source": "\(source.name)", "step": "\(name)",
                                                    "seconds": "\(String(format: "%.2f", seconds))"])
    }

    private func extractSchema(to path: String) throws {
        guard let file = source.files.first(where: { $0.role == "postgres-schema" }), SnapshotPaths.isSafe(file.path) else {
            throw EHRError(.verificationFailed, "source '\(source.name)' has no schema file in its manifest",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        let output = try OutputFile(creating: path)
        try DataFileReader(archive: archive, snapshot: snapshot, entry: file).read { try output.write($0) }
        try output.close()
    }

    private func pgRestore(_ tools: PostgresTools, section: String, file: String, jobs: Int = 1) throws {
        var arguments = ["--section=\(section)", "--exit-on-error", "--dbname=\(work)"]
        if jobs > 1 { arguments.append("--jobs=\(jobs)") }
        if !options.owners { arguments.append("--no-owner") }
        if !options.privileges { arguments.append("--no-privileges") }
        // --dbname with a bare name only names the database: host, user and password still come
        // from the environment, never from the command line.
        let env = try PostgresTools.environment(for: connectionString, overrides: ["PGAPPNAME": "ehrdata restore"])
        try tools.run("pg_restore", arguments + [file], environment: env)
    }

    private func loadTables() throws {
        let files = Dictionary(source.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let types = try PostgresCatalog(connect(to: work)).columnTypes()
        let loads = try info.tables.map { table -> TableLoad in
            guard let file = files[table.file], SnapshotPaths.isSafe(file.path) else {
                throw EHRError(.verificationFailed, "table \(table.schema).\(table.name) has no data file in the manifest",
                               hint: "this snapshot is damaged; use another snapshot")
            }
            let columnTypes = types[.init(schema: table.schema, name: table.name)] ?? [:]
            return TableLoad(table: table, file: file, binary: binaryTypes(table.columns.map { columnTypes[$0] ?? 0 }))
        }
        try load(loads)
    }

    private func finishSequencesAndViews() throws {
        let db = try connect(to: work)
        for s in info.sequences {
            try db.execute("SELECT pg_catalog.setval(\(db.literal(PostgresConnection.qualified(s.schema, s.name))), \(Int64(s.lastValue) ?? 1), \(s.isCalled))")
        }
        // Refresh exactly the views that were populated; one may read another, so retry in passes.
        var pending = info.materializedViews.filter(\.populated)
        while !pending.isEmpty {
            var failed: [Manifest.PostgresMaterializedView] = []
            var lastError: Error?
            for view in pending {
                do { try db.execute("REFRESH MATERIALIZED VIEW \(PostgresConnection.qualified(view.schema, view.name))") } catch {
                    failed.append(view)
                    lastError = error
                }
            }
            if failed.count == pending.count, let lastError { throw lastError }
            pending = failed
        }
    }

    /// How often the swap transaction is tried when a session is still on a database it renames.
    static let swapAttempts = 20

    /// Ends the original's sessions and renames both databases in one transaction, so that a
    /// kill at any moment (of ehrdata: the server rolls back its open transaction) leaves either
    /// the original under its name or the restored database under it, and every database open to
    /// connections. Nothing is ever committed that closes the original to connections. The
    /// original stays, under its new name.
    func swapInPlace() throws {
        let admin = try admin()
        if try databaseExists(original, admin) {
            // Touches only the work database; done once, before the swap.
            try carryDatabaseProperties(admin)
            try renameBothWithRetries(admin)
            keptOriginal = true
        } else {
            try admin.execute("ALTER DATABASE \(PostgresConnection.identifier(work)) RENAME TO \(PostgresConnection.identifier(original))")
        }
        published = true
    }

    /// Whether the committed swap renamed an original aside (false: there was none).
    private var keptOriginal = false

    /// Undoes a committed swap (another source of the same restore failed): the same kind of
    /// transaction the other way round, so the original is back under its name. The restored
    /// database goes back to its work name and is kept, not dropped, because a client may have
    /// written to it between the two transactions; its name is returned.
    func undoSwap() throws -> String {
        let admin = try admin()
        if keptOriginal {
            try renameBothWithRetries(admin, undo: true)
        } else {
            try admin.execute("ALTER DATABASE \(PostgresConnection.identifier(original)) RENAME TO \(PostgresConnection.identifier(work))")
        }
        return work
    }

    /// The swap transaction, tried again as a whole while a rename finds sessions still on a
    /// database (55006: terminated backends that have not exited yet, or a client that reconnected
    /// between the terminate and the rename's lock). Once the first rename holds its lock on the
    /// original, new connections wait for the transaction and then find the renamed databases.
    private func renameBothWithRetries(_ admin: PostgresConnection, undo: Bool = false) throws {
        for attempt in 1...Self.swapAttempts {
            do {
                if undo { try swapTransaction(admin, aside: work, back: keptName, hooks: false) } else { try swapTransaction(admin) }
                if !undo { TestHooks.checkpoint("postgres-swap-committed") }
                return
            } catch let error as PostgresError where error.sqlState == "55006" {
                if admin.inTransaction { try? admin.execute("ROLLBACK") }
                logger.info("swap found sessions still connected; retrying", metadata: [
                    "source": "\(source.name)", "attempt": "\(attempt)", "of": "\(Self.swapAttempts)",
                ])
                if attempt == Self.swapAttempts {
                    let said = error.message.hasPrefix("ERROR:") ? error.message.dropFirst(6).trimmingCharacters(in: .whitespaces)
                                                                  : error.message
                    throw EHRError(.locked, "the in-place swap\(undo ? "'s undo" : "") of \(original) gave up after \(attempt) attempts, nothing was swapped "
                                   + "(\(said))",
                                   hint: "stop the clients that keep connecting to the database named (pg_stat_activity lists them), then rerun the restore")
                }
                usleep(100_000)
            } catch {
                if admin.inTransaction { try? admin.execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// One try: BEGIN; end the original's sessions; rename the original to the kept name and the
    /// work database to the original's; COMMIT. A test may pause before each statement.
    private func swapTransaction(_ admin: PostgresConnection) throws {
        try swapTransaction(admin, aside: keptName, back: work, hooks: true)
    }

    /// The same statements for any pair: the database under the original's name goes `aside`,
    /// `back` takes its name. Undoing a swap, `aside` is the work name and `back` the kept one;
    /// no test pauses then (`hooks`).
    private func swapTransaction(_ admin: PostgresConnection, aside: String, back: String, hooks: Bool) throws {
        let orig = PostgresConnection.identifier(original), kept = PostgresConnection.identifier(aside)
        let checkpoint: (String) -> Void = { if hooks { TestHooks.checkpoint($0) } }
        checkpoint("postgres-swap-begin")
        try admin.execute("BEGIN")
        // Once the rename holds its lock, new connections to the original wait for this
        // transaction. If ehrdata's host or network goes away (not a clean kill, which closes
        // the socket at once), the server would keep it open until TCP keepalive noticed, hours:
        // these bound it, and the server then rolls it back.
        try admin.execute("SET LOCAL idle_in_transaction_session_timeout = '30s'; SET LOCAL lock_timeout = '30s'")
        checkpoint("postgres-swap-terminate")
        _ = try admin.rows("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = \(admin.literal(original)) AND pid <> pg_backend_pid()
            """)
        checkpoint("postgres-swap-rename-original")
        try admin.execute("ALTER DATABASE \(orig) RENAME TO \(kept)")
        checkpoint("postgres-swap-rename-restored")
        try admin.execute("ALTER DATABASE \(PostgresConnection.identifier(back)) RENAME TO \(orig)")
        checkpoint("postgres-swap-commit")
        try admin.execute("COMMIT")
    }

    /// What pg_dump does not carry because it belongs to the database, not its contents: owner,
    /// `ALTER DATABASE … SET` settings, CONNECT/CREATE/TEMP grants and the comment. Copied from
    /// the original so the service finds the database it had.
    private func carryDatabaseProperties(_ admin: PostgresConnection) throws {
        let orig = admin.literal(original), work = PostgresConnection.identifier(self.work)
        let owner = try admin.value("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = \(orig)")
        if let owner { try admin.execute("ALTER DATABASE \(work) OWNER TO \(PostgresConnection.identifier(owner))") }
        let settings = try admin.rows("""
            SELECT unnest(setconfig) FROM pg_db_role_setting
            WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = \(orig))
            """).compactMap { $0.first ?? nil }
        for setting in settings {
            guard let eq = setting.firstIndex(of: "=") else { continue }
            let name = String(setting[..<eq]), value = String(setting[setting.index(after: eq)...])
            // List settings (search_path) are stored as "a, b" and must be set as a list.
            let values = name == "search_path" ? value.split(separator: ",").map { admin.literal($0.trimmingCharacters(in: .whitespaces)) }
                                               : [admin.literal(value)]
            try admin.execute("ALTER DATABASE \(work) SET \(PostgresConnection.identifier(name)) TO \(values.joined(separator: ", "))")
        }
        let explicitACL = try admin.value("SELECT datacl IS NOT NULL FROM pg_database WHERE datname = \(orig)") == "t"
        if explicitACL {
            try admin.execute("REVOKE ALL ON DATABASE \(work) FROM PUBLIC")
            for grant in try admin.rows("""
                SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                       a.privilege_type, a.is_grantable
                FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = \(orig)
                """) {
                let option = grant[2] == "t" ? " WITH GRANT OPTION" : ""
                try admin.execute("GRANT \(grant[1] ?? "CONNECT") ON DATABASE \(work) TO \(grant[0] ?? "PUBLIC")\(option)")
            }
        }
        if let comment = try admin.value("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = \(orig)") {
            try admin.execute("COMMENT ON DATABASE \(work) IS \(admin.literal(comment))")
        }
    }

    func publishNew() { published = true }

    /// Drops the work database if this restore created it and it was not published.
    func discard() {
        defer { dropCreatedRoles() }
        guard createdWork, !published, let admin = try? admin() else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(PostgresConnection.identifier(work)) WITH (FORCE)")
    }
}
