import EHRCore
import EHRPostgres

/// The built-in checks of a PostgreSQL database, each in its own READ ONLY transaction:
/// `not_valid` (rows violating constraints marked NOT VALID, counted with a SELECT, since
/// VALIDATE CONSTRAINT would write the catalog), `sequence` (sequences owned by a column whose
/// next value is not past the column's max) and `amcheck` (bt_index_check on every B-tree
/// index of the user's schemas, when the extension is installed in the database; else skipped).
struct PostgresChecks {
    let source: String
    let target: CheckTarget
    let timeout: Double?

    func run() -> [CheckResult] {
        [measure("not_valid", notValid), measure("sequence", sequences), measure("amcheck", amcheck)]
    }

    private func measure(_ name: String, _ body: (PostgresConnection) throws -> CheckResult) -> CheckResult {
        let (result, seconds) = Stopwatch.time { () -> CheckResult in
            do {
                let db = try target.openReadOnly(timeout: timeout)
                let result = try body(db)
                try db.execute("COMMIT")
                return result
            } catch {
                return CheckResult(name: name, source: source, kind: "postgres", status: .error,
                                   detail: CheckFailure.describe(error, timeout: timeout))
            }
        }
        var timed = result
        timed.seconds = seconds
        return timed
    }

    static let userSchemas = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"

    private func notValid(_ db: PostgresConnection) throws -> CheckResult {
        let constraints = try db.rows("""
            SELECT c.contype, c.conrelid::regclass::text, c.confrelid::regclass::text, pg_get_expr(c.conbin, c.conrelid),
                   (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
                   (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n),
                   c.conname
            FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE NOT c.convalidated AND c.contype IN ('c', 'f') AND \(Self.userSchemas)
            ORDER BY 2, 7
            """)
        var total: Int64 = 0
        var found: [String] = []
        for row in constraints {
            guard let type = row[0], let table = row[1], let name = row[6] else { continue }
            let sql: String
            if type == "f", let parent = row[2], let columns = row[4]?.split(separator: ","), let referenced = row[5]?.split(separator: ",") {
                let notNull = columns.map { "x.\($0) IS NOT NULL" }.joined(separator: " AND ")
                let match = zip(columns, referenced).map { "y.\($1) = x.\($0)" }.joined(separator: " AND ")
                sql = "SELECT count(*) FROM \(table) x WHERE \(notNull) AND NOT EXISTS (SELECT 1 FROM \(parent) y WHERE \(match))"
            } else if type == "c", let expression = row[3] {
                sql = "SELECT count(*) FROM \(table) WHERE NOT coalesce((\(expression)), true)"
            } else {
                continue
            }
            let rows = Int64(try db.value(sql) ?? "0") ?? 0
            if rows > 0 { found.append("\(table).\(name): \(rows)") }
            total += rows
        }
        return .counted("not_valid", source: source, kind: "postgres", violations: total,
                        detail: found.joined(separator: ", "))
    }

    private func sequences(_ db: PostgresConnection) throws -> CheckResult {
        let owned = try db.rows("""
            SELECT s.oid::regclass::text, t.oid::regclass::text, quote_ident(a.attname), q.seqincrement
            FROM pg_class s JOIN pg_sequence q ON q.seqrelid = s.oid
            JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass
                 AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
            JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE s.relkind = 'S' AND \(Self.userSchemas)
            ORDER BY 1
            """)
        var behind: [String] = []
        for row in owned {
            guard let sequence = row[0], let table = row[1], let column = row[2], let step = row[3].flatMap({ Int64($0) }), step > 0 else { continue }
            guard let state = try db.rows("SELECT last_value, is_called FROM \(sequence)").first,
                  let last = state[0].flatMap({ Int64($0) }) else { continue }
            let next = state[1] == "t" ? last &+ step : last
            guard let highest = try db.value("SELECT max(\(column))::text FROM \(table)").flatMap({ Int64($0) }) else { continue }
            if next <= highest { behind.append(sequence) }
        }
        return .counted("sequence", source: source, kind: "postgres", violations: Int64(behind.count),
                        detail: "behind their column's max: " + behind.joined(separator: ", "))
    }

    private func amcheck(_ db: PostgresConnection) throws -> CheckResult {
        guard let schema = try db.value("SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'") else {
            return CheckResult(name: "amcheck", source: source, kind: "postgres", status: .skipped,
                               detail: "the amcheck extension is not installed in this database (drill installs it in its scratch copies)")
        }
        let indexes = try db.rows("""
            SELECT c.oid, c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't' AND \(Self.userSchemas)
            ORDER BY 2
            """)
        var corrupt: [String] = []
        for row in indexes {
            guard let oid = row[0], let name = row[1] else { continue }
            try db.execute("SAVEPOINT ehrdata_amcheck")
            do {
                try db.execute("SELECT \(schema).bt_index_check(\(oid)::regclass)")
                try db.execute("RELEASE SAVEPOINT ehrdata_amcheck")
            } catch let error as PostgresError where error.sqlState?.hasPrefix("XX") == true {
                // index_corrupted, data_corrupted, or an internal error reading the page.
                try db.execute("ROLLBACK TO SAVEPOINT ehrdata_amcheck")
                corrupt.append(name)
            }
        }
        return .counted("amcheck", source: source, kind: "postgres", violations: Int64(corrupt.count),
                        detail: "B-tree indexes that fail bt_index_check: " + corrupt.joined(separator: ", "))
    }
}
