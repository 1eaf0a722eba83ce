import EHRCore
import EHRPostgres

/// Generated columns. Every one is loaded as a plain column holding SQLite's values. Then, per
/// table, each whose expression translated (ExpressionTranslator) is evaluated by PostgreSQL on
/// every staged row and compared with SQLite's value as text (which tells -0 from 0 and 1.0 from
/// 1); those equal on every row become stored generated columns, by rebuilding the table in one
/// transaction (PostgreSQL 15 cannot turn a column into a generated one). The parity proof then
/// reads the values PostgreSQL computed and compares them with SQLite's, row by row digest.
/// The others stay plain columns holding SQLite's values, with the reason in the report.
enum MigrationGenerated {
    /// Each generated column's expression, translated against the other columns' decisions: a
    /// candidate (`generatedSQL`), or a warning saying why it stays a plain column.
    static func translate(_ table: inout MigrationPlan.Table) {
        guard table.columns.contains(where: \.isGenerated) else { return }
        let expressions = SQLiteTableSQL.generatedExpressions(table.info.sql)
        let translator = MigrationSchema.translator(table)
        for c in table.columns.indices where table.columns[c].isGenerated {
            do throws(ExpressionTranslator.Untranslatable) {
                guard let tokens = expressions[table.columns[c].name] else {
                    throw .init(reason: "its expression was not found in the CREATE TABLE text")
                }
                // SQLite keeps a fraction computed into an INTEGER column; PostgreSQL would round it.
                if table.columns[c].decision.type.isInteger, mayHaveFractions(tokens, table) {
                    throw .init(reason: "an integer column computed from values that may have fractions")
                }
                table.columns[c].generatedSQL = cast(try translator.translate(tokens), to: table.columns[c].decision.type)
            } catch {
                table.columns[c].decision.warnings.append(
                    "generated column: migrated as a plain column holding SQLite's values: its expression does not translate (\(error.reason))")
            }
        }
    }

    /// Whether an expression may give a fraction: a decimal literal or a column that is not an
    /// integer, outside `CAST(… AS INTEGER)` and `length(…)`, which give whole numbers.
    static func mayHaveFractions(_ tokens: [SQLToken], _ table: MigrationPlan.Table) -> Bool {
        var k = 0
        while k < tokens.count {
            let t = tokens[k]
            if t.isWord("CAST") || t.isWord("LENGTH"), k + 1 < tokens.count, tokens[k + 1].isSymbol("("),
               let inner = SQLiteTableSQL.parenthesized(tokens, at: k + 1),
               t.isWord("LENGTH") || inner.last.map({ $0.text.uppercased().contains("INT") }) == true {
                k += inner.count + 3
                continue
            }
            if t.kind == .number, Int64(t.text) == nil { return true }
            if t.kind == .word || t.kind == .quoted,
               table.columns.contains(where: { $0.name.lowercased() == t.text.lowercased() && !$0.decision.type.isInteger }) {
                return true
            }
            k += 1
        }
        return false
    }

    /// The expression as the column's definition uses it: cast to the column's type, except
    /// varchar(n), cast to text so that PostgreSQL's assignment to the column refuses a longer
    /// value instead of an explicit cast cutting it.
    static func cast(_ expression: String, to type: TargetType) -> String {
        if case .varchar = type { return "(\(expression))::text" }
        return "(\(expression))::\(type.sql)"
    }

    /// Returns why each candidate column stays plain (by position); a position missing from the
    /// result is now a stored generated column.
    static func apply(_ table: MigrationPlan.Table, staging: String, db: PostgresConnection) throws -> [Int: String] {
        let candidates = table.columns.indices.filter { table.columns[$0].generatedSQL != nil }
        guard !candidates.isEmpty else { return [:] }
        let q = PostgresName.quote
        let name = q(staging) + "." + q(table.targetName)
        var plain: [Int: String] = [:]
        for c in candidates {
            let column = q(table.columns[c].targetName)
            do {
                let differing = try db.value("SELECT count(*) FROM \(name) WHERE (\(column))::text IS DISTINCT FROM (\(table.columns[c].generatedSQL!))::text") ?? "0"
                if differing != "0" { plain[c] = "its PostgreSQL translation gives other values than SQLite's on \(differing) rows" }
            } catch let error as PostgresError {
                plain[c] = "PostgreSQL cannot evaluate its translation on the data (\(error.message))"
            }
        }
        let generated = Set(candidates).subtracting(plain.keys)
        guard !generated.isEmpty else { return plain }
        let old = q("ehrdata_rebuild_" + String(table.targetName.utf8.count) + "_" + String(UInt32.random(in: 0 ... .max), radix: 16))
        let kept = table.columns.indices.filter { !generated.contains($0) }.map { q(table.columns[$0].targetName) }.joined(separator: ", ")
        do {
            try db.execute("BEGIN")
            try db.execute("ALTER TABLE \(name) RENAME TO \(old)")
            try db.execute(table.createSQL(schema: staging, generated: generated))
            try db.execute("INSERT INTO \(name) (\(kept)) SELECT \(kept) FROM \(q(staging)).\(old)")
            try db.execute("DROP TABLE \(q(staging)).\(old)")
            try db.execute("COMMIT")
        } catch let error as PostgresError {
            try db.execute("ROLLBACK")
            for c in generated { plain[c] = "PostgreSQL refuses its translation as a generated column (\(error.message))" }
        }
        return plain
    }
}
