import EHRCore
import EHRSQLite

extension MigrationSchema {
    /// NOT NULL (one ALTER TABLE, one scan), defaults, CHECKs, UNIQUE constraints and indexes.
    static func tableSteps(_ table: MigrationPlan.Table, db: SQLiteConnection, schema: String,
                           into out: inout MigrationSchema) throws -> [Step] {
        let q = PostgresName.quote
        let name = q(schema) + "." + q(table.targetName)
        let translator = translator(table)
        var steps: [Step] = []
        func untranslated(_ kind: String, _ object: String, _ sql: String, _ reason: String) {
            out.untranslated.append(Untranslated(kind: kind, name: object, table: table.info.name, sql: sql, reason: reason))
        }

        let key = Set(table.primaryKey ?? [])
        let notNull = table.columns.indices.filter { table.info.columns[$0].notNull && !key.contains($0) && !table.columns[$0].decision.identity }
        if !notNull.isEmpty {
            steps.append(Step(kind: .notNull, name: notNull.map { table.columns[$0].targetName }.joined(separator: ", "), table: table.info.name,
                              sql: "ALTER TABLE \(name) " + notNull.map { "ALTER COLUMN \(q(table.columns[$0].targetName)) SET NOT NULL" }.joined(separator: ", ")))
        }

        let defaults = try db.columnDefaults(of: table.info.name)
        for column in table.columns where !column.decision.identity && !column.isGenerated {
            guard let text = defaults[column.name] else { continue }
            do throws(ExpressionTranslator.Untranslatable) {
                guard let sql = try defaultSQL(text, type: column.decision.type, translator) else { continue }
                steps.append(Step(kind: .defaultValue, name: column.targetName, table: table.info.name,
                                  sql: "ALTER TABLE \(name) ALTER COLUMN \(q(column.targetName)) SET DEFAULT \(sql)"))
            } catch {
                untranslated("default", column.name, "DEFAULT \(text)", error.reason)
            }
        }

        for (n, check) in SQLiteTableSQL.checks(table.info.sql).enumerated() {
            let constraint = check.name.map { PostgresName.truncated($0) } ?? constraintName(table.targetName, [String(n + 1)], "check")
            do throws(ExpressionTranslator.Untranslatable) {
                let expression = try translator.translate(check.expression)
                steps.append(Step(kind: .check, name: constraint, table: table.info.name,
                                  sql: "ALTER TABLE \(name) ADD CONSTRAINT \(q(constraint)) CHECK (\(expression))"))
            } catch {
                untranslated("check", constraint, "CHECK (\(SQLToken.sql(check.expression)))", error.reason)
            }
        }

        let nocase = SQLiteTableSQL.nocaseColumns(table.info.sql)
        if !nocase.isEmpty {
            out.warnings.append("\(table.info.name): COLLATE NOCASE on \(nocase.sorted().joined(separator: ", ")): PostgreSQL compares these columns case-sensitively; their unique constraints and indexes are built on lower(column)")
        }
        for index in try db.indexes(of: table.info.name) where index.origin != "pk" {
            let sqlite = index.sql ?? "UNIQUE (\(index.parts.map { $0.column ?? "?" }.joined(separator: ", ")))"
            do throws(ExpressionTranslator.Untranslatable) {
                steps.append(try indexStep(index, table: table, name: name, translator: translator))
            } catch {
                untranslated(index.unique ? "unique index" : "index", index.name, sqlite, error.reason)
            }
        }
        return steps
    }

    private static func indexStep(_ index: SQLiteIndexInfo, table: MigrationPlan.Table, name: String,
                                  translator: ExpressionTranslator) throws(ExpressionTranslator.Untranslatable) -> Step {
        let q = PostgresName.quote
        let written = index.sql.flatMap { SQLiteTableSQL.indexParts($0) }
        var parts: [String] = []
        var plain = true
        for (k, part) in index.parts.enumerated() {
            var sql: String
            if let column = part.column {
                guard let c = table.columns.first(where: { $0.name.lowercased() == column.lowercased() }) else {
                    throw .init(reason: "it names a column the table does not have")
                }
                sql = q(c.targetName)
            } else {
                guard let written, k < written.parts.count else { throw .init(reason: "an expression whose text was not found") }
                var tokens = written.parts[k]
                if let last = tokens.last, last.isWord("ASC") || last.isWord("DESC") { tokens.removeLast() }
                if tokens.count >= 2, tokens[tokens.count - 2].isWord("COLLATE") { tokens.removeLast(2) }
                sql = "(" + (try translator.translate(tokens)) + ")"
                plain = false
            }
            switch part.collation {
            case "BINARY": break
            case "NOCASE": sql = "lower(\(sql))"; plain = false
            default: throw .init(reason: "the collation \(part.collation) has no PostgreSQL equivalent")
            }
            if part.descending { plain = false }
            parts.append(sql + (part.descending ? " DESC" : ""))
        }
        var filter = ""
        if index.partial {
            guard let condition = written?.filter else { throw .init(reason: "its WHERE clause was not found") }
            filter = " WHERE " + (try translator.translate(condition))
        }
        if index.origin == "u", plain {
            let constraint = constraintName(table.targetName, index.parts.map { $0.column ?? "" }, "key")
            return Step(kind: .unique, name: constraint, table: table.info.name,
                        sql: "ALTER TABLE \(name) ADD CONSTRAINT \(q(constraint)) UNIQUE (\(parts.joined(separator: ", ")))")
        }
        let indexName = index.origin == "u" ? constraintName(table.targetName, index.parts.map { $0.column ?? "expr" }, "key")
            : PostgresName.truncated(index.name)
        return Step(kind: index.unique ? .unique : .index, name: indexName, table: table.info.name,
                    sql: "CREATE \(index.unique ? "UNIQUE " : "")INDEX \(q(indexName)) ON \(name) (\(parts.joined(separator: ", ")))\(filter)")
    }

    /// A DEFAULT in PostgreSQL; nil for DEFAULT NULL (PostgreSQL's default anyway).
    static func defaultSQL(_ text: String, type: TargetType, _ translator: ExpressionTranslator) throws(ExpressionTranslator.Untranslatable) -> String? {
        var tokens: [SQLToken]
        do { tokens = try SQLTokenizer.tokens(text) } catch { throw .init(reason: error.reason) }
        while tokens.first?.isSymbol("(") == true, SQLiteTableSQL.parenthesized(tokens, at: 0)?.count == tokens.count - 2 {
            tokens = Array(tokens.dropFirst().dropLast())
        }
        if tokens.count == 1, tokens[0].isWord("NULL") { return nil }
        if let now = try nowDefault(tokens, type: type) { return now }
        let sign = tokens.count == 2 && (tokens[0].isSymbol("-") || tokens[0].isSymbol("+")) ? tokens[0].text : ""
        let literal = sign.isEmpty ? tokens : Array(tokens.dropFirst())
        if literal.count == 1 {
            let t = literal[0]
            switch (t.kind, type) {
            case (.number, .boolean) where t.text == "0" || t.text == "1": return t.text == "1" ? "true" : "false"
            case (.word, .boolean) where t.isWord("TRUE") || t.isWord("FALSE"): return t.text.lowercased()
            case (.string, .boolean):
                switch t.text.lowercased() {
                case "1", "true", "t": return "true"
                case "0", "false", "f": return "false"
                default: throw .init(reason: "a boolean default that is no boolean spelling")
                }
            case (.number, _) where type.isText: return ExpressionTranslator.literal(sign + t.text)
            case (.number, _): return sign + t.text
            case (.string, _): return ExpressionTranslator.literal(t.text)
            case (.blob, .bytea): return "'\\x\(t.text)'::bytea"
            default: break
            }
        }
        return "(" + (try translator.translate(tokens)) + ")"
    }

    /// SQLite's current-time defaults are UTC text; the same moment in the column's type.
    private static func nowDefault(_ tokens: [SQLToken], type: TargetType) throws(ExpressionTranslator.Untranslatable) -> String? {
        let words = tokens.map { $0.kind == .string ? "'\($0.text.lowercased() == "now" ? "now" : $0.text)'" : $0.text.uppercased() }.joined(separator: " ")
        let utc = "statement_timestamp() AT TIME ZONE 'UTC'"
        let form: String
        switch words {
        case "CURRENT_TIMESTAMP", "DATETIME ( 'now' )", "STRFTIME ( '%Y-%m-%d %H:%M:%S' , 'now' )": form = "timestamp"
        case "CURRENT_DATE", "DATE ( 'now' )": form = "date"
        case "CURRENT_TIME", "TIME ( 'now' )": form = "time"
        case "STRFTIME ( '%s' , 'now' )", "UNIXEPOCH ( )", "UNIXEPOCH ( 'now' )": form = "epoch"
        default:
            if words.contains("'now'") || words.contains("CURRENT_") { throw .init(reason: "a current-time form with no exact PostgreSQL equivalent") }
            return nil
        }
        switch (form, type) {
        case ("timestamp", .timestamp): return "date_trunc('second', \(utc))"
        case ("timestamp", .timestamptz): return "date_trunc('second', statement_timestamp())"
        case ("timestamp", _) where type.isText: return "to_char(\(utc), 'YYYY-MM-DD HH24:MI:SS')"
        case ("date", .date): return "(\(utc))::date"
        case ("date", _) where type.isText: return "to_char(\(utc), 'YYYY-MM-DD')"
        case ("time", .time): return "date_trunc('second', \(utc))::time"
        case ("time", _) where type.isText: return "to_char(\(utc), 'HH24:MI:SS')"
        case ("epoch", .bigint), ("epoch", .integer): return "floor(extract(epoch FROM statement_timestamp()))::bigint"
        default: throw .init(reason: "the current \(form) has no exact form in a \(type.sql) column")
        }
    }
}
