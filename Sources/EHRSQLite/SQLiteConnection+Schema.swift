/// What migrate reads of a database's tables: columns as SQLite declares them, keys, and the
/// AUTOINCREMENT counters.
public struct SQLiteTableInfo: Sendable {
    public struct Column: Sendable {
        public var name: String
        /// The declared type exactly as written ("" when none).
        public var declaredType: String
        public var notNull: Bool
        /// 1-based position in the primary key, 0 when not part of it.
        public var primaryKeyPosition: Int
        /// 0 ordinary, 2 virtual generated, 3 stored generated (PRAGMA table_xinfo's `hidden`).
        public var hidden: Int
        public var isGenerated: Bool { hidden == 2 || hidden == 3 }
    }

    public var name: String
    public var sql: String
    public var columns: [Column]
    public var withoutRowid: Bool
    /// The INTEGER PRIMARY KEY column that is the rowid, if any.
    public var rowidAlias: Int?
    /// sqlite_sequence's value for an AUTOINCREMENT table.
    public var autoincrementSequence: Int64?
    public var autoincrement: Bool
    /// A name for the rowid no column hides (`rowid`, `_rowid_` or `oid`), nil for WITHOUT ROWID
    /// tables or when all three are column names.
    public var rowidName: String?

    public var primaryKey: [Int] {
        columns.indices.filter { columns[$0].primaryKeyPosition > 0 }
            .sorted { columns[$0].primaryKeyPosition < columns[$1].primaryKeyPosition }
    }
}

extension SQLiteConnection {
    /// Every ordinary table (see `tableNames`), and the virtual tables' names apart.
    public func tableInfos() throws -> (tables: [SQLiteTableInfo], virtualTables: [String]) {
        let virtual = try rows("""
            SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name
            """).compactMap { $0.first ?? nil }
        var sequences: [String: Int64] = [:]
        if try integer("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'") > 0 {
            let statement = try prepare("SELECT name, seq FROM sqlite_sequence")
            while try statement.step() {
                if let name = statement.text(at: 0) { sequences[name] = statement.int64(at: 1) }
            }
        }
        let tables = try tableNames().map { name in try tableInfo(name, sequences: sequences) }
        return (tables, virtual)
    }

    private func tableInfo(_ name: String, sequences: [String: Int64]) throws -> SQLiteTableInfo {
        let sql: String = (try rows("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", [name]).first ?? []).first.flatMap { $0 } ?? ""
        let statement = try prepare("SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(?)")
        try statement.bind(name, at: 1)
        var columns: [SQLiteTableInfo.Column] = []
        while try statement.step() {
            columns.append(.init(name: statement.text(at: 0) ?? "", declaredType: statement.text(at: 1) ?? "",
                                 notNull: statement.int64(at: 2) != 0, primaryKeyPosition: Int(statement.int64(at: 3)),
                                 hidden: Int(statement.int64(at: 4))))
        }
        let withoutRowid = try integer("SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND name = \(Self.quoteLiteral(name)) AND wr = 1") > 0
        var info = SQLiteTableInfo(name: name, sql: sql, columns: columns, withoutRowid: withoutRowid, rowidAlias: nil,
                                   autoincrementSequence: sequences[name], autoincrement: false, rowidName: nil)
        let keys = info.primaryKey
        // SQLite's rule: a single-column key declared exactly INTEGER is the rowid, except
        // `INTEGER PRIMARY KEY DESC` written on the column, which SQLite keeps as an ordinary
        // column (any value) behind an automatic index: a key with such an index is no alias.
        if !withoutRowid, keys.count == 1, columns[keys[0]].declaredType.uppercased() == "INTEGER",
           try integer("SELECT count(*) FROM pragma_index_list(\(Self.quoteLiteral(name))) WHERE origin = 'pk'") == 0 {
            info.rowidAlias = keys[0]
        }
        info.autoincrement = sequences[name] != nil || sql.uppercased().contains("AUTOINCREMENT")
        if !withoutRowid {
            let lower = Set(columns.map { $0.name.lowercased() })
            info.rowidName = ["rowid", "_rowid_", "oid"].first { !lower.contains($0) }
        }
        return info
    }

    public static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
