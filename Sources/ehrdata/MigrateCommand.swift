import ArgumentParser
import EHRArchive
import EHRConfig
import EHRCore
import EHREngine
import Foundation

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a SQLite database into PostgreSQL once: every row, every value, proven.",
        discussion: """
            Reads one moment of SOURCE while the application keeps writing (a WAL database
            in place, through connections pinned to one commit; otherwise a private copy),
            chooses each column's PostgreSQL type from its declared type and its
            values (docs/MIGRATION.md), loads every table over --jobs connections into a
            staging schema, adds primary keys and identities, then proves parity: every
            table is read back and compared with what SQLite held (row count and content
            digest). Constraints, defaults, indexes and views follow the data; what does not
            translate (triggers, virtual tables, SQLite-only expressions) is listed with its
            SQL and the reason. Only then, in one transaction, are the tables put into
            --schema. A failed or killed run leaves the target as it was; the next run
            cleans up. --plan prints the whole translation first and writes nothing.

            SOURCE: a SQLite file, a configured SQLite source's name, or SNAPSHOT:NAME (a
            source in an archived snapshot; SNAPSHOT as restore takes it, e.g. latest).
            TARGET: a libpq connection string or URI, or a configured PostgreSQL source's
            name. Works without a config file when both are given directly.

            Values the declared type does not hold (text in a REAL column, a NUL in text,
            NULLs in a primary key): --on-mismatch stop (default) writes nothing and lists
            every such column; widen gives those columns a type that holds every value;
            reject writes those rows to a reject file (0600; it holds patient data) beside
            --report (else in the current directory) and loads the rest. Nothing is ever
            changed or dropped without being counted in the report.

            Examples:
              ehrdata migrate --from /var/lib/ehr/backend.sqlite --to 'host=db dbname=ehr user=ehr'
              ehrdata migrate --from backend --to fhir --schema backend
              ehrdata migrate --from latest:backend --to 'postgresql://ehr@db/ehr' --on-mismatch widen
              ehrdata migrate --from backend.sqlite --to 'dbname=ehr' --replace --report migrate.json --json
              ehrdata migrate --from backend.sqlite --to 'dbname=ehr' --plan
              ehrdata migrate --from backend.sqlite --to 'dbname=ehr' --schema app --table patients --table visits

            Exit status:
              0   migrated, parity proven
              1   failed (the target is as it was)
              64  usage (also: --table chose a table whose foreign key names one not chosen)
              66  no such file, source or snapshot
              73  the target schema already holds tables (see --replace)
              75  another migrate into this schema is running
              78  a source name given, but the config is unusable
              79  values do not fit their columns, a key or constraint the data violates,
                  or names that collide at PostgreSQL's 63-byte limit (nothing written)
              80  parity check failed (nothing put in place)
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "SQLite file, configured SQLite source, or SNAPSHOT:NAME.", completion: .file())
    var from: String

    @Option(help: "libpq connection string or URI, or a configured PostgreSQL source.")
    var to: String

    @Option(help: "The PostgreSQL schema to fill (default: public).")
    var schema = "public"

    @Option(help: "Values the declared type does not hold: stop, widen or reject (default: stop).")
    var onMismatch: MismatchPolicy = .stop

    @Flag(help: "Keep a target schema that holds tables, renamed to <schema>_pre_migrate_<time>, and take its place.")
    var replace = false

    @Option(help: "Parallel readers and loaders (default: the number of cores).")
    var jobs: Int?

    @Option(help: "Also write the report to this file (JSON if it ends in .json, else text).", completion: .file())
    var report: String?

    @Flag(help: "Print the whole translation (DDL, every type decision, what is not carried over) and write nothing.")
    var plan = false

    @Option(name: .customLong("table"), help: "Migrate only this table (repeatable); refused when it has a foreign key to a table neither chosen nor in the target.")
    var tables: [String] = []

    @Option(help: "Directory for the private copy of a source not read in place (default: $TMPDIR, else /var/tmp).", completion: .directory)
    var tempDir: String?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if schema.isEmpty || schema.utf8.count > 63 { throw ValidationError("--schema must be 1 to 63 bytes") }
        if replace && !tables.isEmpty { throw ValidationError("--replace replaces a whole schema: it does not go with --table") }
        if plan && replace { throw ValidationError("--plan writes nothing: it does not go with --replace") }
    }

    func run() throws {
        let logger = global.makeLogger("migrate")
        try Output.run(json: global.json, {
            let endpoints = try MigrationEndpoints(from: from, to: to, configPath: global.config)
            var request = MigrateEngine.Request(source: endpoints.source, connectionString: endpoints.connectionString)
            request.schema = schema
            request.policy = onMismatch
            request.replace = replace
            request.planOnly = plan
            request.tables = tables.isEmpty ? nil : tables
            if let jobs { request.jobs = jobs }
            if let tempDir { request.tempDirectory = tempDir }
            if let report { request.rejectDirectory = (report as NSString).deletingLastPathComponent.isEmpty ? "." : (report as NSString).deletingLastPathComponent }
            let e = MigrateEngine(logger: logger, archive: { try Archive.open(at: try endpoints.configuration().archive) })
            let line = ProgressDisplay(e.progress)
            defer { line.stop() }
            let result = try e.run(request)
            if let report { try write(result, to: report) }
            return result
        }, text: MigrationText.render)
    }

    private func write(_ result: MigrationReport, to path: String) throws {
        let text = path.hasSuffix(".json") ? Output.encode(result) : MigrationText.render(result)
        do { try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw EHRError(.failure, "migrated, but cannot write the report to \(path): \(error.localizedDescription)",
                           hint: "the migration itself is complete; rerun with --json to see the report")
        }
    }
}

extension MismatchPolicy: ExpressibleByArgument {}

/// SOURCE and TARGET as the user wrote them, resolved with the config only when a name needs it.
struct MigrationEndpoints {
    var source: MigrationSource
    var connectionString: String
    private let configPath: String?

    init(from: String, to: String, configPath: String?) throws {
        self.configPath = configPath
        var loaded: Configuration?
        func config() throws -> Configuration {
            if let loaded { return loaded }
            loaded = try ConfigLoader.load(explicit: configPath)
            return loaded!
        }
        if FileManager.default.fileExists(atPath: from) || !from.contains(":") && (from.contains("/") || from.contains(".")) {
            source = .file(from)
        } else if let colon = from.lastIndex(of: ":"), !FileManager.default.fileExists(atPath: from) {
            source = .snapshot(SnapshotSelector(String(from[..<colon])), source: String(from[from.index(after: colon)...]))
        } else {
            let c = try config()
            guard let s = c.source(named: from), s.kind == .sqlite, let path = s.path else {
                throw EHRError(.notFound, "no SQLite file, configured SQLite source or SNAPSHOT:NAME called '\(from)'",
                               hint: "give a path to the database file, a source name from `ehrdata config check`, or e.g. latest:\(from)")
            }
            source = .configured(name: from, path: path)
        }
        if to.contains("=") || to.hasPrefix("postgres://") || to.hasPrefix("postgresql://") {
            connectionString = to
        } else {
            let c = try config()
            guard let s = c.source(named: to), s.kind == .postgres, let connection = s.connection else {
                throw EHRError(.notFound, "'\(to)' is neither a connection string nor a configured PostgreSQL source",
                               hint: "give e.g. 'host=db dbname=ehr user=ehr', a postgresql:// URI, or a source name from `ehrdata config check`")
            }
            connectionString = connection
        }
        loadedConfig = loaded
    }

    private var loadedConfig: Configuration?

    func configuration() throws -> Configuration {
        try loadedConfig ?? ConfigLoader.load(explicit: configPath)
    }
}
