import EHRCore
import EHRSQLite
import Foundation

/// The read pass: every value of every table once, in parallel parts, into column profiles;
/// then the type decisions, the names and the keys (MigrationPlan).
struct MigrationAnalysis {
    let readers: SourceReaders
    let jobs: Int
    let policy: MismatchPolicy
    /// The schema the DDL names: the staging schema for a run, the target for `--plan`.
    var ddlSchema = ""
    var targetSchema = ""
    /// Only these tables (`--table`), by SQLite name; nil for all.
    var only: [String]?
    /// Tables the target schema already holds, which a subset's foreign keys may reference.
    var existing: Set<String> = []

    /// Tables with a rowid and at least this many rows are read (and loaded) in `jobs` parts.
    /// Tests lower it with `EHRDATA_TEST_SPLIT_ROWS` so that small fixtures take this path too.
    static let splitRows: Int64 = ProcessInfo.processInfo.environment["EHRDATA_TEST_SPLIT_ROWS"].flatMap { Int64($0) } ?? 200_000

    /// A part of a table: a rowid range (both ends included), or the whole table.
    struct Unit {
        var table: Int
        var rowids: ClosedRange<Int64>?
    }

    /// A connection on the source's pinned moment, for one thread until the lease ends.
    func open() throws -> SourceReaders.Lease {
        try readers.lease()
    }

    /// `SELECT [rowid,] columns FROM table [WHERE rowid BETWEEN ? AND ?]`.
    static func select(_ table: SQLiteTableInfo, _ unit: Unit) -> String {
        let q = SQLiteConnection.quoteIdentifier
        let columns = (table.rowidName.map { [$0] } ?? []) + table.columns.map { q($0.name) }
        let range = unit.rowids.map { " WHERE \(table.rowidName!) BETWEEN \($0.lowerBound) AND \($0.upperBound)" } ?? ""
        return "SELECT \(columns.joined(separator: ", ")) FROM \(q(table.name))\(range)"
    }

    func plan() throws -> (MigrationPlan, [Unit]) {
        let lease = try open()
        let db = lease.db
        let (all, virtual) = try db.tableInfos()
        let tables = try Self.chosen(all, only: only, existing: existing, db: db)
        var units: [Unit] = []
        var counts: [Int64] = []
        for (index, table) in tables.enumerated() {
            let count = try db.integer("SELECT count(*) FROM \(SQLiteConnection.quoteIdentifier(table.name))")
            counts.append(count)
            units += try split(table, index: index, rows: count, db)
        }
        // Biggest parts first, so that the last one to finish is a small one.
        units.sort { counts[$0.table] / Int64($0.rowids == nil ? 1 : jobs) > counts[$1.table] / Int64($1.rowids == nil ? 1 : jobs) }
        let profiles = try ParallelJobs.run(count: units.count, workers: jobs, makeState: { try self.open() }, job: { lease, i in
            try Self.profile(tables[units[i].table], units[i], lease.db)
        })
        var merged = tables.map { t in t.columns.map { ColumnProfile(declared: DeclaredType($0.declaredType)) } }
        for (unit, profile) in zip(units, profiles) {
            for c in profile.indices { merged[unit.table][c].merge(profile[c]) }
        }
        var plan = MigrationPlan(tables: [], virtualTables: virtual)
        for (index, table) in tables.enumerated() {
            plan.tables.append(try tablePlan(table, profiles: merged[index], rows: counts[index], db))
        }
        if !virtual.isEmpty {
            plan.warnings.append("virtual tables are not migrated (their shadow tables are, as ordinary tables): \(virtual.joined(separator: ", "))")
        }
        plan.schema = try MigrationSchema.build(plan, db: db, schema: ddlSchema, targetSchema: targetSchema, existing: existing)
        plan.warnings += plan.schema.warnings
        return (plan, units)
    }

    /// The `--table` subset, refused (naming them) when a chosen table has a foreign key to a
    /// table neither chosen nor already in the target schema.
    static func chosen(_ all: [SQLiteTableInfo], only: [String]?, existing: Set<String>, db: SQLiteConnection) throws -> [SQLiteTableInfo] {
        guard let only else { return all }
        let byName = Dictionary(all.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        let missing = only.filter { byName[$0.lowercased()] == nil }
        guard missing.isEmpty else {
            throw EHRError(.notFound, "no table \(missing.map { "'\($0)'" }.joined(separator: ", ")) in the source",
                           hint: "name tables as the source spells them (sqlite3 SOURCE .tables)")
        }
        let names = Set(only.map { $0.lowercased() })
        let existingLower = Set(existing.map { $0.lowercased() })
        var broken: [String] = []
        for table in all where names.contains(table.name.lowercased()) {
            for key in try db.foreignKeys(of: table.name) where !names.contains(key.table.lowercased()) && !existingLower.contains(key.table.lowercased()) {
                broken.append("\(table.name) → \(key.table)")
            }
        }
        guard broken.isEmpty else {
            throw EHRError(.usage, "the chosen tables have foreign keys to tables neither chosen nor in the target schema: \(broken.joined(separator: ", "))",
                           hint: "add those tables with --table, or migrate them first")
        }
        return all.filter { names.contains($0.name.lowercased()) }
    }

    private func split(_ table: SQLiteTableInfo, index: Int, rows: Int64, _ db: SQLiteConnection) throws -> [Unit] {
        guard jobs > 1, rows >= Self.splitRows, let rowid = table.rowidName else { return [Unit(table: index, rowids: nil)] }
        let q = SQLiteConnection.quoteIdentifier(table.name)
        var bounds: [Int64] = [try db.integer("SELECT min(\(rowid)) FROM \(q)")]
        for k in 1..<jobs {
            bounds.append(try db.integer("SELECT \(rowid) FROM \(q) ORDER BY \(rowid) LIMIT 1 OFFSET \(rows * Int64(k) / Int64(jobs))"))
        }
        let last = try db.integer("SELECT max(\(rowid)) FROM \(q)")
        var units: [Unit] = []
        for k in 0..<bounds.count {
            let upper = k + 1 < bounds.count ? bounds[k + 1] - 1 : last
            if bounds[k] <= upper { units.append(Unit(table: index, rowids: bounds[k]...upper)) }
        }
        return units
    }

    private static func profile(_ table: SQLiteTableInfo, _ unit: Unit, _ db: SQLiteConnection) throws -> [ColumnProfile] {
        var profiles = table.columns.map { ColumnProfile(declared: DeclaredType($0.declaredType)) }
        let statement = try db.prepare(select(table, unit))
        let offset: Int32 = table.rowidName == nil ? 0 : 1
        var ordinal: Int64 = 0
        while try statement.step() {
            ordinal += 1
            let position = offset == 1 ? statement.int64(at: 0) : ordinal
            for c in profiles.indices { profiles[c].add(statement.value(at: Int32(c) + offset), at: position) }
        }
        return profiles
    }

    private func tablePlan(_ info: SQLiteTableInfo, profiles: [ColumnProfile], rows: Int64, _ db: SQLiteConnection) throws -> MigrationPlan.Table {
        var columns: [MigrationPlan.Column] = []
        let expressions = info.columns.contains(where: \.isGenerated) ? SQLiteTableSQL.generatedExpressions(info.sql) : [:]
        let translator = ExpressionTranslator(columns: Dictionary(info.columns.map { ($0.name, PostgresName.quote(PostgresName.truncated($0.name))) },
                                                                  uniquingKeysWith: { first, _ in first }))
        for (c, column) in info.columns.enumerated() {
            var decision = TypeDecider.decide(profiles[c], declaredText: column.declaredType, isRowidAlias: info.rowidAlias == c)
            if policy == .widen { decision = TypeDecider.widened(decision, profiles[c]) }
            if policy == .reject, let mismatch = decision.mismatch {
                decision.warnings.append("rows whose value does not fit \(decision.type.sql) go to the reject file: \(mismatch)")
            }
            var generatedSQL: String?
            if column.isGenerated {
                do throws(ExpressionTranslator.Untranslatable) {
                    guard let tokens = expressions[column.name] else { throw ExpressionTranslator.Untranslatable(reason: "its expression was not found in the CREATE TABLE text") }
                    generatedSQL = MigrationGenerated.cast(try translator.translate(tokens), to: decision.type)
                } catch {
                    decision.warnings.append("generated column: migrated as a plain column holding SQLite's values: its expression does not translate (\(error.reason))")
                }
            }
            columns.append(.init(name: column.name, targetName: PostgresName.truncated(column.name), declared: column.declaredType,
                                 profile: profiles[c], decision: decision, isGenerated: column.isGenerated, generatedSQL: generatedSQL))
            if column.name.utf8.count > PostgresName.limit {
                columns[c].decision.warnings.append("the name is cut to PostgreSQL's 63 bytes: \(columns[c].targetName)")
            }
        }
        var table = MigrationPlan.Table(info: info, targetName: PostgresName.truncated(info.name), columns: columns)
        table.rowCount = rows
        if info.name.utf8.count > PostgresName.limit { table.warnings.append("the name is cut to PostgreSQL's 63 bytes: \(table.targetName)") }
        let key = info.primaryKey
        if !key.isEmpty {
            table.primaryKey = key
            let nullKeys = key.filter { profiles[$0].nulls > 0 && info.rowidAlias != $0 }
            if !nullKeys.isEmpty {
                let names = nullKeys.map { "\(info.columns[$0].name) (\(profiles[$0].nulls) NULLs)" }.joined(separator: ", ")
                let problem = "the primary key has NULLs, which SQLite allows outside INTEGER PRIMARY KEY: \(names)"
                switch policy {
                case .stop: table.keyLeftOut = problem
                case .widen:
                    table.primaryKey = nil
                    table.warnings.append("primary key left out: \(problem)")
                case .reject: table.warnings.append("rows with a NULL in the primary key are rejected: \(names)")
                }
            }
        }
        if let id = info.rowidAlias {
            table.identityColumn = id
            let highest = profiles[id].integers.count > 0 ? profiles[id].maxInteger : 0
            let start = max(highest, info.autoincrementSequence ?? 0)
            table.identityStart = start == Int64.max ? nil : max(1, start + 1)
            if table.identityStart == nil { table.warnings.append("the highest id is the largest bigint: the identity cannot continue after it") }
        }
        return table
    }
}
