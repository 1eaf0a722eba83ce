import EHRArchive
import EHRCore
import EHRPostgres
import Foundation
import Logging

/// The PostgreSQL side: the schema migrate fills, the staging schema it loads into, and the
/// one transaction that puts the staging schema's tables in place.
///
/// Staging: `ehrdata_staging_<8 hex of the schema name>`, marked by its comment. A leftover
/// of a killed run (that name, that comment) is dropped by the next run; a schema of that name
/// without the mark is refused. One migrate per target schema at a time: a session advisory
/// lock, held by `lockConnection` for the whole run.
final class MigrationTarget {
    let connectionString: String
    let schema: String
    let staging: String
    let logger: Logger
    private var lockConnection: PostgresConnection?

    static let stagingMark = "ehrdata migrate staging for schema "

    init(connectionString: String, schema: String, logger: Logger) {
        self.connectionString = connectionString
        self.schema = schema
        self.logger = logger
        staging = Self.stagingName(schema)
    }

    static func stagingName(_ schema: String) -> String {
        "ehrdata_staging_" + SHA256Stream.hex(of: Array(schema.utf8)).prefix(8)
    }

    func connect() throws -> PostgresConnection {
        let db = try PostgresConnection(connectionString: connectionString, overrides: [("application_name", "ehrdata migrate")])
        // Binary COPY sends text as the client encoding: UTF-8, the SQLite side's encoding.
        try db.execute("SET client_encoding = 'UTF8'")
        return db
    }

    /// Takes the advisory lock and checks the server can hold the data: returns the database's
    /// name and what the target schema holds.
    func prepare() throws -> (database: String, relations: Int, exists: Bool) {
        let db = try connect()
        lockConnection = db
        let key = Int32(bitPattern: UInt32(truncatingIfNeeded: (SHA256Stream.hex(of: Array(schema.utf8)).prefix(8)).hexValue))
        guard try db.value("SELECT pg_try_advisory_lock(20261201, \(key))") == "t" else {
            throw EHRError(.locked, "another ehrdata migrate into schema '\(schema)' of database '\(db.databaseName)' is running",
                           hint: "wait for it to finish; nothing was written")
        }
        guard try db.value("SHOW server_encoding") == "UTF8" else {
            throw EHRError(.failure, "database '\(db.databaseName)' is not UTF8-encoded, so it cannot hold every SQLite text exactly",
                           hint: "create the target database with ENCODING 'UTF8'")
        }
        let relations = try relationCount(schema, db)
        let exists = try db.value("SELECT count(*) FROM pg_namespace WHERE nspname = \(db.literal(schema))") != "0"
        return (db.databaseName, relations, exists)
    }

    func relationCount(_ name: String, _ db: PostgresConnection) throws -> Int {
        Int(try db.value("""
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(db.literal(name)) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            """) ?? "0") ?? 0
    }

    /// Drops a killed run's staging schema; refuses one ehrdata did not make.
    func removeLeftoverStaging() throws -> Bool {
        let db = try connect()
        let comment = try db.rows("""
            SELECT coalesce(obj_description(oid, 'pg_namespace'), '') FROM pg_namespace WHERE nspname = \(db.literal(staging))
            """)
        guard let row = comment.first else { return false }
        guard row.first??.hasPrefix(Self.stagingMark) == true else {
            throw EHRError(.targetExists, "schema '\(staging)' exists and is not an ehrdata staging schema",
                           hint: "rename or drop it; migrate loads into a schema of that name")
        }
        try db.execute("DROP SCHEMA \(PostgresName.quote(staging)) CASCADE")
        logger.info("dropped a killed migrate's staging schema", metadata: ["schema": "\(staging)"])
        return true
    }

    func createStaging(_ plan: MigrationPlan) throws {
        let db = try connect()
        try db.execute("BEGIN")
        try db.execute("CREATE SCHEMA \(PostgresName.quote(staging))")
        try db.execute("COMMENT ON SCHEMA \(PostgresName.quote(staging)) IS \(db.literal(Self.stagingMark + schema))")
        for table in plan.tables { try db.execute(table.createSQL(schema: staging)) }
        try db.execute("COMMIT")
    }

    func dropStaging() {
        guard let db = try? connect() else { return }
        try? db.execute("DROP SCHEMA IF EXISTS \(PostgresName.quote(staging)) CASCADE")
    }

    /// Puts the loaded tables in place in one transaction. A missing schema: the staging schema
    /// is renamed. An empty one: the tables move into it (its owner and grants stay). One holding
    /// tables, with `replace`: it is renamed to `keptAs`, and the staging schema takes its name,
    /// owner and grants. Returns the kept name.
    /// The ordinary tables the target schema holds.
    func tableNames() throws -> Set<String> {
        let db = try connect()
        return Set(try db.rows("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(db.literal(schema)) AND c.relkind IN ('r', 'p')
            """).compactMap { $0.first ?? nil })
    }

    func swap(replace: Bool, subset: Bool = false, stamp: String) throws -> String? {
        let db = try connect()
        let q = PostgresName.quote
        TestHooks.checkpoint("migrate-swap-begin")
        try db.execute("BEGIN")
        try db.execute("SET LOCAL lock_timeout = '60s'")
        let exists = try db.value("SELECT count(*) FROM pg_namespace WHERE nspname = \(db.literal(schema))") != "0"
        let relations = exists ? try relationCount(schema, db) : 0
        var kept: String?
        if !exists {
            try db.execute("ALTER SCHEMA \(q(staging)) RENAME TO \(q(schema))")
            try db.execute("COMMENT ON SCHEMA \(q(schema)) IS NULL")
        } else if relations == 0 || subset {
            // Tables, then views (which name them by oid, so they follow wherever they go).
            let relations = try db.rows("""
                SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(db.literal(staging)) AND c.relkind IN ('r', 'v') ORDER BY c.relkind, 1
                """)
            for row in relations {
                guard let name = row[0] else { continue }
                try db.execute("ALTER \(row[1] == "v" ? "VIEW" : "TABLE") \(q(staging)).\(q(name)) SET SCHEMA \(q(schema))")
            }
            try db.execute("DROP SCHEMA \(q(staging))")
        } else {
            guard replace else {
                try db.execute("ROLLBACK")
                throw Self.notEmpty(schema, relations)
            }
            let aside = Self.keptName(schema, stamp: stamp)
            guard try db.value("SELECT count(*) FROM pg_namespace WHERE nspname = \(db.literal(aside))") == "0" else {
                try db.execute("ROLLBACK")
                throw EHRError(.targetExists, "schema '\(aside)' exists", hint: "retry a second later")
            }
            let grants = try db.rows("""
                SELECT pg_get_userbyid(n.nspowner), CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                       a.privilege_type, a.is_grantable
                FROM pg_namespace n LEFT JOIN LATERAL aclexplode(n.nspacl) a ON true WHERE n.nspname = \(db.literal(schema))
                """)
            TestHooks.checkpoint("migrate-swap-rename")
            try db.execute("ALTER SCHEMA \(q(schema)) RENAME TO \(q(aside))")
            try db.execute("ALTER SCHEMA \(q(staging)) RENAME TO \(q(schema))")
            try db.execute("COMMENT ON SCHEMA \(q(schema)) IS NULL")
            if let owner = grants.first?[0] { try db.execute("ALTER SCHEMA \(q(schema)) OWNER TO \(q(owner))") }
            for g in grants {
                guard let grantee = g[1], let privilege = g[2] else { continue }
                try db.execute("GRANT \(privilege) ON SCHEMA \(q(schema)) TO \(grantee)\(g[3] == "t" ? " WITH GRANT OPTION" : "")")
            }
            kept = aside
        }
        TestHooks.checkpoint("migrate-swap-commit")
        try db.execute("COMMIT")
        TestHooks.checkpoint("migrate-swap-committed")
        return kept
    }

    static func keptName(_ schema: String, stamp: String) -> String {
        let suffix = "_pre_migrate_" + stamp
        return PostgresName.truncated(schema, to: PostgresName.limit - suffix.utf8.count) + suffix
    }

    static func notEmpty(_ schema: String, _ relations: Int) -> EHRError {
        EHRError(.targetExists, "schema '\(schema)' already holds \(relations) tables, views or sequences",
                 hint: "migrate into an empty schema (--schema NAME), or pass --replace to keep the current one renamed aside")
    }
}

extension Substring {
    var hexValue: UInt64 { UInt64(self, radix: 16) ?? 0 }
}
