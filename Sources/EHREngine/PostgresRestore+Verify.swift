import EHRArchive
import EHRCore
import EHRPostgres
import Foundation

/// Checking the loaded database against the manifest: every table's row count and content
/// digest (read back with COPY, a big table in parallel block ranges), every sequence.
extension PostgresRestore {
    /// Every table's rows and content digest against the manifest. Runs while pg_restore builds
    /// the indexes and constraints, so each COPY is its own statement in autocommit: a read holds
    /// its table's ACCESS SHARE lock only while it runs, and pg_restore's `ADD PRIMARY KEY`
    /// (ACCESS EXCLUSIVE) waits for at most that one read, never for the whole check. One
    /// transaction per connection would keep every table it read locked until the end.
    /// Nothing in post-data changes a row (triggers and rules only act on later writes), so what
    /// this reads is what the restore leaves.
    func verifyTables() throws {
        let units = try verificationUnits()
        let digests = try ParallelJobs.run(count: units.count, workers: options.jobs, makeState: {
            let db = try self.connect(to: self.work)
            try db.execute("SET default_transaction_read_only = on")
            try PostgresSourceCapture.applySettings(self.info.copySettings, on: db)
            return db
        }, job: { db, index -> ContentDigest in
            var digest = ContentDigest()
            try db.copyOut(units[index].sql) { digest.add(row: $0) }
            return digest
        })
        var byTable = [ContentDigest](repeating: ContentDigest(), count: info.tables.count)
        for (unit, digest) in zip(units, digests) { byTable[unit.table].merge(digest) }
        for (table, digest) in zip(info.tables, byTable) where digest.text != table.digest {
            throw EHRError(.verificationFailed,
                           "restored table \(table.schema).\(table.name) (\(digest.rows) rows, snapshot has \(table.rows)) does not match the snapshot",
                           hint: "nothing was swapped; report this, the snapshot or the restore is faulty")
        }
    }

    /// Every sequence's value against the manifest (after `setval`).
    func verifySequences() throws {
        let db = try connect(to: work)
        let catalog = PostgresCatalog(db)
        for s in info.sequences {
            let state = try catalog.sequenceState(.init(schema: s.schema, name: s.name))
            guard state.lastValue == s.lastValue, state.isCalled == s.isCalled else {
                throw EHRError(.verificationFailed, "restored sequence \(s.schema).\(s.name) differs from the snapshot",
                               hint: "nothing was swapped")
            }
        }
    }

    struct VerificationUnit {
        var table: Int
        var sql: String
    }

    /// One COPY per table, except big tables, which are read in `jobs` block ranges (TID range
    /// scans) whose digests add up to the table's. Binary columns the snapshot hashed by value
    /// are read back as their SHA-256, computed by the server (see RowHasher).
    func verificationUnits() throws -> [VerificationUnit] {
        let db = try connect(to: work)
        var units: [VerificationUnit] = []
        for (index, table) in info.tables.enumerated() {
            let name = PostgresConnection.qualified(table.schema, table.name)
            let hashed = Set(table.hashedColumns ?? [])
            let select = table.columns.map { column in
                let id = PostgresConnection.identifier(column)
                return hashed.contains(column) ? "pg_catalog.sha256(\(id))" : id
            }.joined(separator: ", ")
            guard let file = source.files.first(where: { $0.path == table.file }), isSplit(file) else {
                // ONLY: COPY of a table leaves out inheritance children, and so must the check.
                units.append(.init(table: index, sql: "COPY (SELECT \(select) FROM ONLY \(name)) TO STDOUT"))
                continue
            }
            for filter in try BlockRanges.filters(name, parts: options.jobs, on: db) {
                units.append(.init(table: index, sql: "COPY (SELECT \(select) FROM ONLY \(name)\(filter)) TO STDOUT"))
            }
        }
        return units
    }
}
