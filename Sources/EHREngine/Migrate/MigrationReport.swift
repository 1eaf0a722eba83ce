import EHRArchive
import EHRCore
import EHRPostgres

/// What migrate did, table by table: rows read, loaded and rejected, the parity result, every
/// type decision with its reason and the storage classes found (counts, never values), and
/// every warning. Printed as text or JSON, and written with `--report FILE`.
public struct MigrationReport: Codable, Sendable {
    public struct Storage: Codable, Sendable {
        public var null: Int64, integer: Int64, real: Int64, text: Int64, blob: Int64
    }

    public struct Column: Codable, Sendable {
        public var name: String
        public var targetName: String
        public var declared: String
        public var type: String
        public var identity: Bool
        public var reason: String
        /// A stored generated column's PostgreSQL expression (schema text, no values).
        public var generated: String?
        public var storage: Storage
        public var warnings: [String]
    }

    public struct Table: Codable, Sendable {
        public var name: String
        public var targetName: String
        public var rowsRead: Int64
        public var rowsLoaded: Int64
        public var rowsRejected: Int64
        public var primaryKey: [String]?
        public var identityStart: Int64?
        /// "ok", or "MISMATCH" when the digests differ.
        public var parity: String
        public var sqliteDigest: String
        public var postgresDigest: String
        public var columns: [Column]
        public var warnings: [String]
    }

    public var source: String
    public var moment: String
    public var target: String
    public var database: String
    public var schema: String
    public var onMismatch: MismatchPolicy
    public var tables: [Table]
    public var warnings: [String]
    public var rejectFile: String?
    public var replacedSchemaKeptAs: String?
    /// `--plan`: nothing was written; the statements a run would execute are in `ddl`.
    public var plan = false
    /// What a run creates, in order: the tables, then each constraint, index and view.
    public var ddl: [String] = []
    /// Constraints, indexes and views: kind, name, table, PostgreSQL SQL and what became of it.
    public var schemaObjects: [SchemaObject] = []
    /// What is not carried over, with its SQLite text and the reason.
    public var untranslated: [Untranslated] = []
    /// Under `--plan`, the columns whose values do not fit (a `stop` run refuses them).
    public var mismatches: [String] = []

    public struct SchemaObject: Codable, Sendable {
        public var kind: String
        public var name: String
        public var table: String
        public var sql: String
        public var status: String
    }

    public struct Untranslated: Codable, Sendable {
        public var kind: String
        public var name: String
        public var table: String?
        public var sql: String
        public var reason: String
    }
    /// Seconds per phase: copy, read, load, keys, proof, swap.
    public var seconds: [String: Double] = [:]

    public var rowsLoaded: Int64 { tables.reduce(0) { $0 + $1.rowsLoaded } }
    public var rowsRejected: Int64 { tables.reduce(0) { $0 + $1.rowsRejected } }
    public var parityOK: Bool { tables.allSatisfy { $0.parity == "ok" } }

    /// `loaded` and `read` are nil for `--plan`.
    init(plan: MigrationPlan, request: MigrateEngine.Request, moment: String, database: String,
         loaded: [ContentDigest]?, read: [ContentDigest]?, rejected: [Int64], rejectFile: String?) {
        self.plan = loaded == nil
        // A run's statements name the staging schema: shown with the schema they end up in.
        let staging = PostgresName.quote(MigrationTarget.stagingName(request.schema)), final = PostgresName.quote(request.schema)
        func shown(_ sql: String) -> String { sql.replacingOccurrences(of: staging + ".", with: final + ".") }
        ddl = plan.tables.map { $0.createSQL(schema: request.schema) } + plan.schema.allSteps.map { shown($0.sql) }
        schemaObjects = plan.schema.allSteps.map { SchemaObject(kind: $0.kind.rawValue, name: $0.name, table: $0.table, sql: shown($0.sql), status: $0.status) }
        untranslated = plan.schema.untranslated.map { Untranslated(kind: $0.kind, name: $0.name, table: $0.table, sql: $0.sql, reason: $0.reason) }
            + plan.schema.allSteps.filter { $0.status.hasPrefix("left out: PostgreSQL refuses") }.map {
                Untranslated(kind: $0.kind.rawValue, name: $0.name, table: $0.table, sql: shown($0.sql), reason: String($0.status.dropFirst("left out: ".count)))
            }
        mismatches = loaded == nil ? plan.mismatches : []
        source = request.source.display
        self.moment = moment
        target = PostgresConnection.displayForm(request.connectionString)
        self.database = database
        schema = request.schema
        onMismatch = request.policy
        warnings = plan.warnings
        self.rejectFile = rejectFile
        tables = plan.tables.indices.map { i in
            let t = plan.tables[i]
            return Table(
                name: t.info.name, targetName: t.targetName, rowsRead: t.rowCount, rowsLoaded: loaded?[i].rows ?? 0,
                rowsRejected: i < rejected.count ? rejected[i] : 0, primaryKey: t.primaryKey.map { $0.map { t.columns[$0].targetName } },
                identityStart: t.identityStart,
                parity: loaded.map { $0[i].text == read?[i].text ? "ok" : "MISMATCH" } ?? "planned",
                sqliteDigest: loaded?[i].text ?? "", postgresDigest: read?[i].text ?? "",
                columns: t.columns.map { c in
                    let p = c.profile
                    return Column(name: c.name, targetName: c.targetName, declared: c.declared, type: c.decision.type.sql,
                                  identity: c.decision.identity, reason: c.decision.reason, generated: c.generatedSQL,
                                  storage: Storage(null: p.nulls, integer: p.integers.count, real: p.reals.count, text: p.texts.count, blob: p.blobs.count),
                                  warnings: c.decision.warnings)
                },
                warnings: t.warnings)
        }
    }
}
