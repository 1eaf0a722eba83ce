import EHRPostgres

/// A big table read back in parallel: `WHERE` filters that cut its heap into `parts` block
/// ranges (TID range scans), whose digests add up to the table's. Used by the restore's check
/// and by migrate's proof.
enum BlockRanges {
    /// `name`: the table, schema-qualified and quoted. One filter per range; "" would be the
    /// whole table, which is never returned (an empty table gives one open range).
    static func filters(_ name: String, parts: Int, on db: PostgresConnection) throws -> [String] {
        let blocks = Int(try db.value("SELECT pg_relation_size(\(db.literal(name))::regclass) / current_setting('block_size')::int") ?? "0") ?? 0
        let step = max(1, (blocks + parts - 1) / parts)
        return stride(from: 0, to: max(blocks, 1), by: step).map { start in
            let upper = start + step >= blocks ? "" : " AND ctid < '(\(start + step),0)'::tid"
            return " WHERE ctid >= '(\(start),0)'::tid\(upper)"
        }
    }
}
