import EHRCore
import EHRPostgres
import EHRSQLite

/// The rest of the schema, added after the data as pg_restore does: NOT NULL, defaults, CHECK,
/// UNIQUE and other indexes, foreign keys, views. What cannot be translated is listed with its
/// SQLite text and the reason, never dropped in silence: triggers, virtual tables, views that do
/// not translate or no longer run in SQLite, CHECKs and index expressions that do not translate.
struct MigrationSchema {
    /// One statement migrate runs after the data.
    struct Step: Codable, Sendable {
        enum Kind: String, Codable, Sendable {
            case notNull = "not null", defaultValue = "default", check, unique, index, foreignKey = "foreign key", view
        }

        var kind: Kind
        var name: String
        /// The SQLite table it belongs to (the view's own name for a view).
        var table: String
        var sql: String
        /// For a foreign key: the same constraint NOT VALID, what `widen` adds when the data violates it.
        var notValidSQL: String?
        /// "planned", "added", "added NOT VALID", "left out: …".
        var status = "planned"
    }

    /// Something migrate does not carry over, with its SQLite text.
    struct Untranslated: Codable, Sendable {
        var kind: String
        var name: String
        var table: String?
        var sql: String
        var reason: String
    }

    /// Per table (plan order): its steps, run in the keys phase after the primary key.
    var tableSteps: [[Step]] = []
    var foreignKeys: [Step] = []
    var views: [Step] = []
    var untranslated: [Untranslated] = []
    var warnings: [String] = []

    var allSteps: [Step] { tableSteps.flatMap { $0 } + foreignKeys + views }
}

extension MigrationSchema {
    /// Reads what the source holds beyond its tables and translates it for `schema` (the staging
    /// schema for a run, the target for `--plan`). `existing`: tables of the target schema that
    /// foreign keys of a `--table` subset may reference.
    static func build(_ plan: MigrationPlan, db: SQLiteConnection, schema: String, targetSchema: String,
                      existing: Set<String> = []) throws -> MigrationSchema {
        var out = MigrationSchema()
        let q = PostgresName.quote
        let byName = Dictionary(plan.tables.map { ($0.info.name.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        for table in plan.tables {
            out.tableSteps.append(try tableSteps(table, db: db, schema: schema, into: &out))
            let deferred = SQLiteTableSQL.deferredForeignKeys(table.info.sql)
            let keys = try db.foreignKeys(of: table.info.name)
            for (n, key) in keys.enumerated() {
                let from = key.from.compactMap { c in table.columns.first { $0.name.lowercased() == c.lowercased() } }
                let name = constraintName(table.targetName, key.from, "fkey")
                let sqlText = "FOREIGN KEY (\(key.from.joined(separator: ", "))) REFERENCES \(key.table)"
                let parentSQL: String
                let parentColumns: [String]
                if let parent = byName[key.table.lowercased()] {
                    parentSQL = q(schema) + "." + q(parent.targetName)
                    let referenced = key.to.allSatisfy { $0 == nil } ? (parent.primaryKey ?? parent.info.primaryKey).map { parent.columns[$0].name } : key.to.map { $0 ?? "" }
                    parentColumns = referenced.map { r in parent.columns.first { $0.name.lowercased() == r.lowercased() }.map { q($0.targetName) } ?? q(r) }
                } else if existing.contains(key.table) {
                    parentSQL = q(targetSchema) + "." + q(key.table)
                    parentColumns = key.to.map { q($0 ?? "") }
                } else {
                    out.untranslated.append(Untranslated(kind: "foreign key", name: name, table: table.info.name, sql: sqlText,
                                                         reason: "it references \(key.table), which is not migrated"))
                    continue
                }
                guard from.count == key.from.count, !parentColumns.isEmpty, !parentColumns.contains("\"\"") else {
                    out.untranslated.append(Untranslated(kind: "foreign key", name: name, table: table.info.name, sql: sqlText,
                                                         reason: "its columns are not those of the tables"))
                    continue
                }
                var clause = "FOREIGN KEY (\(from.map { q($0.targetName) }.joined(separator: ", "))) REFERENCES \(parentSQL) (\(parentColumns.joined(separator: ", ")))"
                for (word, action) in [("DELETE", key.onDelete), ("UPDATE", key.onUpdate)] where action.uppercased() != "NO ACTION" {
                    clause += " ON \(word) \(action.uppercased())"
                }
                if deferred.count == keys.count, deferred[n] { clause += " DEFERRABLE INITIALLY DEFERRED" }
                let alter = "ALTER TABLE \(q(schema)).\(q(table.targetName)) ADD CONSTRAINT \(q(name)) \(clause)"
                out.foreignKeys.append(Step(kind: .foreignKey, name: name, table: table.info.name, sql: alter, notValidSQL: alter + " NOT VALID"))
            }
        }
        try views(plan, db: db, schema: schema, into: &out)
        for trigger in try db.schemaObjects("trigger") {
            out.untranslated.append(Untranslated(kind: "trigger", name: trigger.name, table: trigger.table, sql: trigger.sql,
                                                 reason: "triggers are not translated: their bodies are SQLite's"))
        }
        for virtual in try db.schemaObjects("table") where virtual.sql.uppercased().hasPrefix("CREATE VIRTUAL TABLE") {
            out.untranslated.append(Untranslated(kind: "virtual table", name: virtual.name, table: nil, sql: virtual.sql,
                                                 reason: "virtual tables are not migrated; their shadow tables are, as ordinary tables"))
        }
        return out
    }

    /// Runs one step. The data violating it (SQLSTATE class 23): under `widen` it is left out (a
    /// foreign key is added NOT VALID instead) and nil is returned; under `stop` and `reject`
    /// (which applies to values, not constraints) the violation is returned, to fail the run.
    /// PostgreSQL refusing the translation itself leaves the step out, with its reason.
    static func run(_ step: inout Step, db: PostgresConnection, policy: MismatchPolicy) throws -> String? {
        do {
            try db.execute(step.sql)
            step.status = "added"
            return nil
        } catch let error as PostgresError where error.sqlState?.hasPrefix("23") == true {
            guard policy == .widen else {
                step.status = "violated"
                return "\(step.kind.rawValue) \(step.name) of \(step.table): the data violates it (\(error.message))"
            }
            if let notValid = step.notValidSQL {
                try db.execute(notValid)
                step.status = "added NOT VALID: the data violates it (\(error.message))"
            } else {
                step.status = "left out: the data violates it (\(error.message))"
            }
            return nil
        } catch let error as PostgresError where !error.isTransient {
            step.status = "left out: PostgreSQL refuses it (\(error.message))"
            return nil
        }
    }

    /// Foreign keys one at a time (two at once could deadlock on a pair of tables), then the
    /// views, retried while some succeed (a view may read one created after it).
    static func finish(_ schema: inout MigrationSchema, db: PostgresConnection, policy: MismatchPolicy) throws -> [String] {
        var failures: [String] = []
        for k in schema.foreignKeys.indices {
            if let v = try run(&schema.foreignKeys[k], db: db, policy: policy) { failures.append(v) }
        }
        var pending = Array(schema.views.indices)
        while !pending.isEmpty {
            var left: [Int] = []
            for k in pending {
                _ = try run(&schema.views[k], db: db, policy: policy)
                if schema.views[k].status != "added" { left.append(k) }
            }
            if left.count == pending.count { break }
            pending = left
        }
        return failures
    }

    /// Views whose SELECT translates, in SQLite's creation order (a view may read an earlier
    /// one); a view that no longer runs in SQLite itself is listed, not translated.
    static func views(_ plan: MigrationPlan, db: SQLiteConnection, schema: String, into out: inout MigrationSchema) throws {
        let q = PostgresName.quote
        var tables: [String: ExpressionTranslator.Table] = [:]
        for t in plan.tables {
            tables[t.info.name] = .init(sql: q(schema) + "." + q(t.targetName), columns: Dictionary(t.columns.map { c in
                (c.name, ExpressionTranslator.Column(sql: q(c.targetName), isText: c.decision.type.isText))
            }, uniquingKeysWith: { first, _ in first }))
        }
        for view in try db.schemaObjects("view") {
            func untranslated(_ reason: String) {
                out.untranslated.append(Untranslated(kind: "view", name: view.name, table: nil, sql: view.sql, reason: reason))
            }
            if let problem = db.viewProblem(view.name) { untranslated("it no longer runs in SQLite: \(problem)"); continue }
            guard let (columns, select) = SQLiteTableSQL.viewQuery(view.sql) else { untranslated("its text could not be read"); continue }
            do throws(ExpressionTranslator.Untranslatable) {
                let sql = try ExpressionTranslator(tables: tables).translate(select)
                let names = columns.isEmpty ? "" : " (" + columns.map(q).joined(separator: ", ") + ")"
                let target = PostgresName.truncated(view.name)
                out.views.append(Step(kind: .view, name: view.name, table: view.name, sql: "CREATE VIEW \(q(schema)).\(q(target))\(names) AS \(sql)"))
                let viewColumns = (try? db.rows("SELECT name FROM pragma_table_info(?)", [view.name]))?.compactMap { $0.first ?? nil } ?? []
                tables[view.name] = .init(sql: q(schema) + "." + q(target), columns: Dictionary(viewColumns.map {
                    ($0, ExpressionTranslator.Column(sql: q($0), isText: false))
                }, uniquingKeysWith: { first, _ in first }))
            } catch {
                untranslated(error.reason)
            }
        }
    }

    /// `<table>_<columns>_<suffix>`, as PostgreSQL names constraints, cut to 63 bytes.
    static func constraintName(_ table: String, _ columns: [String], _ suffix: String) -> String {
        PostgresName.truncated(([table] + columns + [suffix]).joined(separator: "_"))
    }

    static func translator(_ table: MigrationPlan.Table) -> ExpressionTranslator {
        ExpressionTranslator(columns: Dictionary(table.columns.map { c in
            (c.name, ExpressionTranslator.Column(sql: PostgresName.quote(c.targetName), isText: c.decision.type.isText))
        }, uniquingKeysWith: { first, _ in first }))
    }
}

extension TargetType {
    var isText: Bool {
        switch self {
        case .text, .varchar: true
        default: false
        }
    }
}
