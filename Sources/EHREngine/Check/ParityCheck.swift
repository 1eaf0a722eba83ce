import EHRArchive
import EHRCore
import EHRPostgres
import EHRSQLite
import Foundation
import Logging

/// `check --parity SQLITE POSTGRES [--schema NAME]`: migrate's proof on demand (docs/MIGRATION.md,
/// "The proof"), with migrate's own code. The SQLite file is read as migrate reads it (its read
/// pass decides how dates are read), every value is encoded as the type the PostgreSQL column
/// has now, exactly as migrate's load encodes it (`MigrationLoad.encodeRow`), into the same
/// per-table content digest; `MigrationParity` reads every table back in READ ONLY
/// transactions. One result per SQLite table, `parity:TABLE`: violations are the difference in
/// rows, or 1 when the counts agree and the digests do not.
struct ParityCheck {
    let sqlitePath: String
    /// The configured source name or the path, for the results.
    let sqliteName: String
    let connection: String
    let schema: String
    let jobs: Int
    let logger: Logger

    func run() throws -> [CheckResult] {
        let readers = try SourceReaders.pin(.file(sqlitePath), readers: jobs, tempDirectory: NSTemporaryDirectory(),
                                            archive: { throw EHRError(.failure, "no archive needed") }, logger: logger)
        let analysis = MigrationAnalysis(readers: readers, jobs: jobs, policy: .widen)
        var (plan, _) = try analysis.plan()
        let target = MigrationTarget(connectionString: connection, schema: schema, logger: logger)
        let db = try target.connect()
        try db.execute("BEGIN READ ONLY")
        var results: [Int: CheckResult] = [:]
        for (index, table) in plan.tables.enumerated() {
            let columns = try db.rows("""
                SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(db.literal(schema)) AND c.relname = \(db.literal(table.targetName))
                  AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
                """).map { ($0[0] ?? "", $0[1] ?? "") }
            let name = "parity:\(table.info.name)"
            if columns.isEmpty {
                results[index] = CheckResult(name: name, source: sqliteName, kind: "parity", status: .fail, violations: max(1, table.rowCount),
                                             detail: "no table \(table.targetName) in schema \(schema)")
                continue
            }
            guard columns.map(\.0) == table.columns.map(\.targetName) else {
                results[index] = CheckResult(name: name, source: sqliteName, kind: "parity", status: .fail, violations: max(1, table.rowCount),
                                             detail: "its columns differ from \(schema).\(table.targetName)'s")
                continue
            }
            for (c, column) in columns.enumerated() {
                guard let type = Self.targetType(column.1) else {
                    results[index] = CheckResult(name: name, source: sqliteName, kind: "parity", status: .error,
                                                 detail: "column \(column.0) is of type \(column.1), which migrate never creates")
                    break
                }
                plan.tables[index].columns[c].decision.type = type
            }
        }
        try db.execute("COMMIT")
        let compared = plan.tables.indices.filter { results[$0] == nil }
        var comparable = plan
        comparable.tables = compared.map { plan.tables[$0] }
        let (sent, sentSeconds) = try Stopwatch.time { try digests(comparable, readers: readers) }
        let (read, readSeconds) = try Stopwatch.time { try MigrationParity(target: target, schema: schema, jobs: jobs).digests(comparable) }
        let each = (sentSeconds + readSeconds) / Double(max(1, compared.count))
        for (position, index) in compared.enumerated() {
            let a = sent[position], b = read[position]
            let name = "parity:\(plan.tables[index].info.name)"
            let difference = a.rows > b.rows ? a.rows - b.rows : b.rows - a.rows
            var result = CheckResult.counted(name, source: sqliteName, kind: "parity",
                                             violations: a.text == b.text ? 0 : max(1, difference),
                                             detail: "\(a.rows) rows in SQLite (\(a.rejected) that do not fit), \(b.rows) in PostgreSQL; content digests differ")
            result.seconds = each
            results[index] = result
        }
        return plan.tables.indices.compactMap { results[$0] }
    }

    struct Digest {
        var digest = ContentDigest()
        var rejected: Int64 = 0
        var rows: Int64 { digest.rows }
        var text: String { digest.text }
    }

    /// The SQLite side: every row encoded as the column types say, as migrate's load sends it.
    private func digests(_ plan: MigrationPlan, readers: SourceReaders) throws -> [Digest] {
        let lease = try readers.lease()
        return try plan.tables.map { table in
            let statement = try lease.db.prepare(MigrationAnalysis.select(table.info, .init(table: 0, rowids: nil)))
            let offset: Int32 = table.info.rowidName == nil ? 0 : 1
            let decisions = table.columns.map(\.decision)
            let hashed = decisions.map { $0.type == .bytea }
            var out = Digest()
            var buffer: [UInt8] = [], hashRow: [UInt8] = []
            while try statement.step() {
                buffer.removeAll(keepingCapacity: true)
                if MigrationLoad.encodeRow(statement, offset: offset, decisions: decisions, nullRejected: [], into: &buffer) != nil {
                    out.rejected += 1
                    continue
                }
                if hashed.contains(true) {
                    buffer.withUnsafeBytes { MigrationLoad.hashTuple($0, byValue: hashed, into: &hashRow) }
                    hashRow.withUnsafeBytes { out.digest.add(row: $0) }
                } else {
                    buffer.withUnsafeBytes { out.digest.add(row: $0) }
                }
            }
            return out
        }
    }

    /// A column's type as `format_type` spells it, as migrate's types; nil for any other.
    static func targetType(_ text: String) -> TargetType? {
        switch text {
        case "bigint": return .bigint
        case "integer": return .integer
        case "smallint": return .smallint
        case "double precision": return .doublePrecision
        case "numeric": return .numeric(precision: nil, scale: nil)
        case "boolean": return .boolean
        case "date": return .date
        case "timestamp without time zone": return .timestamp
        case "timestamp with time zone": return .timestamptz
        case "time without time zone": return .time
        case "text": return .text
        case "bytea": return .bytea
        default: break
        }
        if let inner = Self.inner(text, "numeric(") {
            let parts = inner.split(separator: ",").compactMap { Int($0) }
            return parts.count == 2 ? .numeric(precision: parts[0], scale: parts[1]) : nil
        }
        if let inner = Self.inner(text, "character varying("), let n = Int(inner) { return .varchar(n) }
        return nil
    }

    private static func inner(_ text: String, _ prefix: String) -> String? {
        guard text.hasPrefix(prefix), text.hasSuffix(")") else { return nil }
        return String(text.dropFirst(prefix.count).dropLast())
    }
}

extension CheckEngine {
    /// `check --parity`: `sqlite` is a configured SQLite source or a file, `postgres` a
    /// configured PostgreSQL source or a connection string.
    public func parity(sqlite: String, postgres: String, schema: String) throws -> Report {
        let path = configuration.source(named: sqlite)?.path ?? sqlite
        do { try SQLiteSourceFile.check(path) } catch {
            throw EHRError(error.kind, error.message, hint: "give a configured SQLite source or the path of a SQLite database file")
        }
        let connection = configuration.source(named: postgres)?.connection ?? postgres
        let results: [CheckResult]
        do {
            results = try ParityCheck(sqlitePath: path, sqliteName: sqlite, connection: connection, schema: schema,
                                      jobs: ProcessInfo.processInfo.activeProcessorCount, logger: logger).run()
        } catch {
            throw ErrorMapping.map(error)
        }
        return Report(results: results, peakMemoryBytes: PeakMemory.bytes(), stored: false, verdict: Self.verdictName(results))
    }
}
