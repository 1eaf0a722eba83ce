import Foundation

/// Catalog queries: what a database holds that a backup must copy. Names only, never row values.
public struct PostgresCatalog {
    public struct Table: Sendable, Equatable {
        public var schema: String
        public var name: String
        public var columns: [String]
        public var bytes: Int64
        /// Columns of type bytea (or a domain over it), which content digests hash by value.
        public var binaryColumns: [String] = []
    }

    public struct Relation: Sendable, Hashable {
        public var schema: String
        public var name: String

        public init(schema: String, name: String) {
            self.schema = schema
            self.name = name
        }
    }

    public struct DatabaseInfo: Sendable {
        public var name: String
        public var encoding: String
        public var collate: String
        public var ctype: String
        public var serverVersion: String
        public var serverVersionNum: Int
    }

    let connection: PostgresConnection
    public init(_ connection: PostgresConnection) { self.connection = connection }

    /// User relations of `kinds`, leaving out system schemas, temp tables and extension members.
    private func relationFilter(_ kinds: String) -> String {
        """
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN (\(kinds)) AND c.relpersistence <> 't'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        """
    }

    /// Tables that hold rows: ordinary tables and leaf partitions (partitioned parents hold
    /// none), largest first so parallel copies finish together. Columns leave out generated ones.
    public func tables() throws -> [Table] {
        let rows = try connection.rows("""
            SELECT n.nspname, c.relname, pg_total_relation_size(c.oid),
                   coalesce((SELECT json_agg(a.attname ORDER BY a.attnum)::text FROM pg_attribute a
                             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                               AND a.attgenerated = ''), '[]'),
                   coalesce((SELECT json_agg(a.attname ORDER BY a.attnum)::text FROM pg_attribute a
                             JOIN pg_type t ON t.oid = a.atttypid
                             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                               AND a.attgenerated = ''
                               AND (t.oid = 'pg_catalog.bytea'::regtype OR t.typbasetype = 'pg_catalog.bytea'::regtype)), '[]')
            \(relationFilter("'r'"))
            ORDER BY 3 DESC, 1, 2
            """)
        return rows.map { r in
            Table(schema: r[0] ?? "", name: r[1] ?? "", columns: PostgresCatalog.jsonStrings(r[3] ?? "[]"),
                  bytes: Int64(r[2] ?? "0") ?? 0, binaryColumns: PostgresCatalog.jsonStrings(r[4] ?? "[]"))
        }
    }

    public func sequences() throws -> [Relation] {
        try connection.rows("SELECT n.nspname, c.relname \(relationFilter("'S'")) ORDER BY 1, 2")
            .map { Relation(schema: $0[0] ?? "", name: $0[1] ?? "") }
    }

    /// Materialized views and whether each holds data now.
    public func materializedViews() throws -> [(Relation, populated: Bool)] {
        try connection.rows("SELECT n.nspname, c.relname, c.relispopulated \(relationFilter("'m'")) ORDER BY 1, 2")
            .map { (Relation(schema: $0[0] ?? "", name: $0[1] ?? ""), $0[2] == "t") }
    }

    /// The type of every column of every table (a domain's base type), as `pg_type` oids keyed
    /// by schema, table and column: what COPY BINARY must send for each.
    public func columnTypes() throws -> [Relation: [String: Int]] {
        var types: [Relation: [String: Int]] = [:]
        for r in try connection.rows("""
            SELECT n.nspname, c.relname, a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_type t ON t.oid = a.atttypid
            WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
            """) {
            types[Relation(schema: r[0] ?? "", name: r[1] ?? ""), default: [:]][r[2] ?? ""] = Int(r[3] ?? "0") ?? 0
        }
        return types
    }

    /// A sequence's state as this session sees it.
    public func sequenceState(_ s: Relation) throws -> (lastValue: String, isCalled: Bool) {
        let row = try connection.rows("SELECT last_value, is_called FROM \(PostgresConnection.qualified(s.schema, s.name))")
        return (row.first?[0] ?? "0", row.first?[1] == "t")
    }

    public func database() throws -> DatabaseInfo {
        let r = try connection.rows("""
            SELECT current_database(), pg_encoding_to_char(encoding), datcollate, datctype,
                   current_setting('server_version'), current_setting('server_version_num')
            FROM pg_database WHERE datname = current_database()
            """)[0]
        return DatabaseInfo(name: r[0] ?? "", encoding: r[1] ?? "", collate: r[2] ?? "", ctype: r[3] ?? "",
                            serverVersion: r[4] ?? "", serverVersionNum: Int(r[5] ?? "0") ?? 0)
    }

    /// The WAL position now (the replay position on a standby).
    public func walPosition() throws -> String {
        try connection.value("""
            SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text
            """) ?? ""
    }

    /// Parses a JSON array of strings as json_agg prints it.
    static func jsonStrings(_ text: String) -> [String] {
        guard let data = text.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return array
    }
}
