import ArgumentParser
import EHRCore
import EHREngine

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the data inside each source and the rules across them, read-only.",
        discussion: """
            Built-in checks: SQLite integrity_check (quick_check with --quick) and
            foreign_key_check; PostgreSQL rows violating NOT VALID constraints, sequences
            behind their column's max, and amcheck's B-tree check where the extension is
            installed (else 'skipped'). Then the config's rules: 'keys' (every key of one
            query exists in another's) and 'count' (two counts agree). Everything runs
            read-only, each query under check.statement_timeout. The result is stored in the
            archive for status and metrics (without an archive: a warning). No output holds a
            row value; --show-keys lists the first missing keys of a keys rule (identifiers).

            --parity SQLITE POSTGRES runs migrate's parity proof on demand instead: each
            table of the SQLite file (a configured source or a path) encoded as the
            PostgreSQL columns' types, as migrate sends it, against the tables read back from
            the schema (--schema, default public) of POSTGRES (a configured source or a
            connection string): one result per table, parity:TABLE.

            --against SNAPSHOT reports what changed in the live sources since a snapshot
            instead, one result per table, drift:TABLE (row counts and content digests; a
            SQLite source's snapshot copy is restored into a scratch file to compare): after
            an in-place restore, 0 proves the sources hold exactly the snapshot.

            Examples:
              ehrdata check
              ehrdata check --against latest --source fhir
              ehrdata check --parity backend 'host=db1 dbname=ehr' --schema backend
              ehrdata check --source backend --quick
              ehrdata check --rule appointment-patients-exist --show-keys
              ehrdata check --json

            Exit status: 0 consistent, 81 an inconsistency was found (even if another check
            could not run), 82 a check could not run (a source unreachable, a rule in error),
            64 usage, 66 no such source or rule, 78 configuration (a bad rule: its line).
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("source"), help: "Check only this source (repeatable); rules whose sides are all among them run too.")
    var sources: [String] = []

    @Option(name: .customLong("rule"), help: "Run only this rule (repeatable).")
    var rules: [String] = []

    @Flag(help: "SQLite quick_check instead of integrity_check (skips index contents; faster).")
    var quick = false

    @Flag(help: "List the first missing keys of each keys rule (identifiers only, never clinical values).")
    var showKeys = false

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Migrate's parity proof between a SQLite source or file and a PostgreSQL source or connection string.",
                                                         valueName: "sqlite postgres"))
    var parity: [String] = []

    @Option(help: "Report what changed in the live sources since this snapshot (id, unique prefix or 'latest'), per table.")
    var against: String?

    @Option(help: "With --parity: the PostgreSQL schema that holds the migrated tables.")
    var schema: String = "public"

    func validate() throws {
        guard parity.isEmpty || parity.count == 2 else {
            throw ValidationError("--parity takes two values, the SQLite source (or file) and the PostgreSQL source (or connection string)")
        }
        if !parity.isEmpty, !sources.isEmpty || !rules.isEmpty || quick || showKeys {
            throw ValidationError("--parity runs alone: leave out --source, --rule, --quick and --show-keys")
        }
        if against != nil, !parity.isEmpty || !rules.isEmpty || quick || showKeys {
            throw ValidationError("--against takes only --source: leave out --parity, --rule, --quick and --show-keys")
        }
    }

    func run() throws {
        let logger = global.makeLogger("check")
        var results: [CheckResult] = []
        try Output.run(json: global.json, {
            let config = try global.loadConfiguration()
            let engine = CheckEngine(configuration: config, logger: logger)
            let report: CheckEngine.Report
            if parity.count == 2 {
                report = try engine.parity(sqlite: parity[0], postgres: parity[1], schema: schema)
            } else if let against {
                report = try engine.against(SnapshotSelector(against), sources: sources)
            } else {
                report = try engine.run(.init(sources: sources, rules: rules, quick: quick, showKeys: showKeys))
            }
            results = report.results
            return report
        }) { report in
            CheckText.table(report.results) + (report.stored || !parity.isEmpty || against != nil ? "" : "\n(the result was not stored: no archive)")
        }
        if let failure = CheckText.failure(results, what: "check") { try Output.fail(failure, json: global.json) }
    }
}
