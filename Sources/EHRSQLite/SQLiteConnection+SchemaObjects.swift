/// What migrate carries beyond tables and values: indexes, foreign keys, defaults, views and
/// triggers, as SQLite's pragmas and `sqlite_schema` describe them.
public struct SQLiteIndexInfo: Sendable {
    public struct Part: Sendable {
        /// The column's name; nil for an expression.
        public var column: String?
        public var descending: Bool
        /// The collation as SQLite reports it (`BINARY`, `NOCASE`, `RTRIM`).
        public var collation: String
    }

    public var name: String
    public var unique: Bool
    /// `c` CREATE INDEX, `u` a UNIQUE constraint, `pk` the primary key.
    public var origin: String
    public var partial: Bool
    public var parts: [Part]
    /// The `CREATE INDEX` text (nil for the automatic index of a constraint).
    public var sql: String?
}

public struct SQLiteForeignKey: Sendable {
    public var table: String
    public var from: [String]
    /// The referenced columns; empty entries mean the referenced table's primary key.
    public var to: [String?]
    public var onUpdate: String
    public var onDelete: String
}

public struct SQLiteSchemaObject: Sendable {
    public var name: String
    /// The table a trigger is on (a view's own name for a view).
    public var table: String
    public var sql: String
}

extension SQLiteConnection {
    public func indexes(of table: String) throws -> [SQLiteIndexInfo] {
        let list = try rows("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?) ORDER BY seq DESC", [table])
        return try list.compactMap { row in
            guard let name = row[0] else { return nil }
            let parts = try rows("SELECT name, \"desc\", coll FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", [name]).map {
                SQLiteIndexInfo.Part(column: $0[0], descending: $0[1] == "1", collation: ($0[2] ?? "BINARY").uppercased())
            }
            let sql = try rows("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?", [name]).first?.first ?? nil
            return SQLiteIndexInfo(name: name, unique: row[1] == "1", origin: row[2] ?? "c", partial: row[3] == "1", parts: parts, sql: sql)
        }
    }

    /// Foreign keys in declaration order.
    public func foreignKeys(of table: String) throws -> [SQLiteForeignKey] {
        let list = try rows("""
            SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id DESC, seq
            """, [table])
        var keys: [SQLiteForeignKey] = []
        var lastID: String?
        for row in list {
            if row[0] != lastID {
                keys.append(SQLiteForeignKey(table: row[1] ?? "", from: [], to: [], onUpdate: row[4] ?? "NO ACTION", onDelete: row[5] ?? "NO ACTION"))
                lastID = row[0]
            }
            keys[keys.count - 1].from.append(row[2] ?? "")
            keys[keys.count - 1].to.append(row[3])
        }
        return keys
    }

    /// Each column's DEFAULT as written, by column name.
    public func columnDefaults(of table: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try rows("SELECT name, dflt_value FROM pragma_table_xinfo(?)", [table]) {
            if let name = row[0], let value = row[1] { out[name] = value }
        }
        return out
    }

    /// Views or triggers (`type`), in the order SQLite created them.
    public func schemaObjects(_ type: String) throws -> [SQLiteSchemaObject] {
        try rows("SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = ? AND sql IS NOT NULL ORDER BY rowid", [type]).map {
            SQLiteSchemaObject(name: $0[0] ?? "", table: $0[1] ?? "", sql: $0[2] ?? "")
        }
    }

    /// Why a view no longer runs in SQLite itself (a table or column it names is gone), or nil.
    public func viewProblem(_ name: String) -> String? {
        do {
            _ = try prepare("SELECT * FROM \(Self.quoteIdentifier(name)) LIMIT 0")
            return nil
        } catch let error as SQLiteError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
