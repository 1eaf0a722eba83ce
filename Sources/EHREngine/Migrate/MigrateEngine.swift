import EHRArchive
import EHRCore
import EHRPostgres
import Foundation
import Logging

/// `ehrdata migrate`: one SQLite database into a PostgreSQL schema, once, exactly. One moment of
/// the source (a private copy), one read pass that chooses the types, a parallel COPY BINARY
/// load into a staging schema, keys and identities, the proof (every table read back and
/// compared by content digest), then one transaction that puts the tables in place. Until that
/// transaction commits the target schema is as it was; a kill at any step leaves at most a
/// staging schema (dropped by the next run) and a copy in the temp directory (removed likewise).
public struct MigrateEngine {
    public struct Request: Sendable {
        public var source: MigrationSource
        public var connectionString: String
        public var schema = "public"
        public var policy = MismatchPolicy.stop
        public var replace = false
        public var jobs = ProcessInfo.processInfo.activeProcessorCount
        /// Where `reject` writes its file (the report's directory, else the current one).
        public var rejectDirectory = FileManager.default.currentDirectoryPath
        public var tempDirectory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/var/tmp"
        /// `--plan`: read the source, decide, report the whole translation; write nothing.
        public var planOnly = false
        /// `--table`: only these tables (SQLite names); nil for all.
        public var tables: [String]?

        public init(source: MigrationSource, connectionString: String) {
            self.source = source
            self.connectionString = connectionString
        }
    }

    let logger: Logger
    let archive: () throws -> Archive
    public let progress = MigrationProgress()

    public init(logger: Logger, archive: @escaping () throws -> Archive) {
        self.logger = logger
        self.archive = archive
    }

    public func run(_ request: Request) throws -> MigrationReport {
        var clock = PhaseClock()
        // The cheap check first: a wrong path should not be reported as a server problem.
        switch request.source {
        case .file(let path):
            do { try SQLiteSourceFile.check(path) } catch {
                throw EHRError(error.kind, error.message, hint: "give the path of a SQLite database file (--from)")
            }
        case .configured(let name, let path):
            do { try SQLiteSourceFile.check(path) } catch { throw error.error(source: name) }
        case .snapshot: break
        }
        let target = MigrationTarget(connectionString: request.connectionString, schema: request.schema, logger: logger)
        let state = try mapped { try target.prepare() }
        var existing: Set<String> = []
        if let chosen = request.tables {
            // A subset goes into a schema that may hold other tables, never one of the chosen.
            existing = try mapped { try target.tableNames() }
            let taken = chosen.filter { c in existing.contains { $0.lowercased() == c.lowercased() } }
            if !taken.isEmpty {
                throw EHRError(.targetExists, "schema '\(request.schema)' already holds \(taken.joined(separator: ", "))",
                               hint: "choose other tables, or migrate into another schema (--schema NAME)")
            }
        } else if state.relations > 0 && !request.replace && !request.planOnly {
            throw MigrationTarget.notEmpty(request.schema, state.relations)
        }

        progress.begin("pinning the source")
        let readers = try SourceReaders.pin(request.source, readers: request.jobs, tempDirectory: request.tempDirectory,
                                            archive: archive, logger: logger)
        clock.lap("copy")
        progress.begin("reading")
        var analysis = MigrationAnalysis(readers: readers, jobs: request.jobs, policy: request.policy)
        analysis.ddlSchema = request.planOnly ? request.schema : target.staging
        analysis.targetSchema = request.schema
        analysis.only = request.tables
        analysis.existing = existing
        var (plan, units) = try mapped { try analysis.plan() }
        clock.lap("read")
        if request.planOnly {
            var report = MigrationReport(plan: plan, request: request, moment: readers.moment, database: state.database,
                                         loaded: nil, read: nil, rejected: [], rejectFile: nil)
            report.seconds = clock.laps
            return report
        }
        try Self.refuseCollisions(plan)
        if request.policy == .stop, !plan.mismatches.isEmpty {
            throw EHRError(.valuesDoNotFit, "values do not fit their columns, nothing was written: " + plan.mismatches.joined(separator: "; "),
                           hint: "rerun with --on-mismatch widen (a type that holds them) or reject (those rows to a file)")
        }

        _ = try mapped { try target.removeLeftoverStaging() }
        try mapped { try target.createStaging(plan) }
        let stamp = Timestamp.compactUTC(Date())
        let rejects = request.policy == .reject ? RejectFile(path: request.rejectDirectory + "/ehrdata-migrate-rejects-\(stamp).jsonl") : nil
        var keptAs: String?
        var report: MigrationReport
        do {
            progress.begin("loading", parts: units.count, rows: plan.tables.reduce(0) { $0 + $1.rowCount })
            let parts = try MigrationLoad(analysis: analysis, target: target, plan: plan, rejects: rejects, progress: progress).run(units)
            try rejects?.finish()
            var loaded = [ContentDigest](repeating: ContentDigest(), count: plan.tables.count)
            var rejected = [Int64](repeating: 0, count: plan.tables.count)
            for (unit, part) in zip(units, parts) {
                loaded[unit.table].merge(part.digest)
                rejected[unit.table] += part.rejected
            }
            clock.lap("load")
            progress.begin("adding keys")
            var failures = try MigrationLoad.finishTables(&plan, target: target, jobs: request.jobs, policy: request.policy)
            failures += try MigrationSchema.finish(&plan.schema, db: try target.connect(), policy: request.policy)
            if !failures.isEmpty {
                throw EHRError(.valuesDoNotFit, "keys or constraints the data violates, nothing was put in place: " + failures.joined(separator: "; "),
                               hint: "rerun with --on-mismatch widen to leave them out (foreign keys are then added NOT VALID); reject applies to values, not to constraints")
            }
            clock.lap("keys")
            TestHooks.checkpoint("migrate-before-proof")
            progress.begin("proving parity")
            let parity = MigrationParity(target: target, schema: target.staging, jobs: request.jobs)
            let read = try parity.digests(plan)
            let mismatched = plan.tables.indices.filter { read[$0].text != loaded[$0].text }
            let identities = try parity.identityProblems(plan)
            clock.lap("proof")
            report = MigrationReport(plan: plan, request: request, moment: readers.moment, database: state.database,
                                     loaded: loaded, read: read, rejected: rejected, rejectFile: rejects?.rows.isEmpty == false ? rejects?.path : nil)
            if !mismatched.isEmpty || !identities.isEmpty {
                let tables = mismatched.map { "\(plan.tables[$0].info.name) (\(loaded[$0].rows) rows sent, \(read[$0].rows) read back)" }
                throw EHRError(.parityMismatch, "parity check failed, nothing was put in place: "
                               + (tables.isEmpty ? "" : "tables differ after loading: " + tables.joined(separator: ", "))
                               + (identities.isEmpty ? "" : (tables.isEmpty ? "" : "; ") + identities.joined(separator: "; ")),
                               hint: "report this; the target is unchanged, the staging schema was dropped")
            }
            progress.begin("putting the tables in place")
            // Whole seconds, as for kept databases: a schema name without a dot needs no quoting.
            keptAs = try target.swap(replace: request.replace, subset: request.tables != nil, stamp: String(stamp.prefix { $0 != "." }))
            clock.lap("swap")
        } catch {
            target.dropStaging()
            throw Self.mapped(error)
        }
        report.replacedSchemaKeptAs = keptAs
        report.seconds = clock.laps
        return report
    }

    static func refuseCollisions(_ plan: MigrationPlan) throws {
        var found = PostgresName.collisions(plan.tables.map(\.info.name), scope: "tables")
        for table in plan.tables {
            found += PostgresName.collisions(table.columns.map(\.name), scope: "columns of table \(table.info.name)")
        }
        guard !found.isEmpty else { return }
        throw EHRError(.valuesDoNotFit, "names collide at PostgreSQL's 63-byte limit, nothing was written: " + found.joined(separator: "; "),
                       hint: "rename one of each pair in SQLite (ALTER TABLE … RENAME), then migrate again")
    }

    private func mapped<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw Self.mapped(error) }
    }

    static func mapped(_ error: Error) -> Error { ErrorMapping.map(error) }
}

/// Seconds per phase, for the report (the load and the proof apart).
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    private(set) var laps: [String: Double] = [:]

    mutating func lap(_ name: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        laps[name] = (Double(now - last) / 1e9 * 1000).rounded() / 1000
        last = now
    }
}
