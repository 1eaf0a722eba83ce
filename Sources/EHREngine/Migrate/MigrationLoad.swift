import Crypto
import EHRArchive
import EHRCore
import EHRPostgres
import EHRSQLite
import Foundation

/// The load pass: each part of each table read again from the source's pinned moment, every value encoded as
/// its column's decision says, sent as COPY BINARY into the staging table over `jobs`
/// connections. Each row's bytes also go into the table's content digest as they are sent (the
/// SQLite side of the proof; MigrationParity reads the PostgreSQL side back).
struct MigrationLoad {
    let analysis: MigrationAnalysis
    let target: MigrationTarget
    let plan: MigrationPlan
    let rejects: RejectFile?
    let progress: MigrationProgress

    struct Part {
        var digest = ContentDigest()
        var rejected: Int64 = 0
    }

    func run(_ units: [MigrationAnalysis.Unit]) throws -> [Part] {
        try ParallelJobs.run(count: units.count, workers: analysis.jobs, makeState: {
            let db = try self.target.connect()
            // The swap's commit is synchronous and comes after every load in the WAL, so it
            // makes them durable too; a crash before it leaves only a staging schema to drop.
            try db.execute("SET synchronous_commit = off")
            return (try self.analysis.open(), db)
        }, job: { state, i in
            let part = try self.load(units[i], sqlite: state.0.db, postgres: state.1)
            TestHooks.checkpoint("migrate-loaded-part")
            self.progress.finishedPart()
            return part
        })
    }

    static let flushBytes = 1 << 20
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]

    private func load(_ unit: MigrationAnalysis.Unit, sqlite: SQLiteConnection, postgres: PostgresConnection) throws -> Part {
        let table = plan.tables[unit.table]
        let statement = try sqlite.prepare(MigrationAnalysis.select(table.info, unit))
        let offset: Int32 = table.info.rowidName == nil ? 0 : 1
        let decisions = table.columns.map(\.decision)
        let keyColumns = Set(table.primaryKey ?? [])
        let rejectNullKeys = rejects != nil && !keyColumns.isEmpty
        let hashedByValue = decisions.map { $0.type == .bytea }
        let hashesFields = hashedByValue.contains(true)
        var part = Part()
        var buffer = Self.header
        buffer.reserveCapacity(Self.flushBytes + 65536)
        var hashRow: [UInt8] = []
        var ordinal: Int64 = 0, sinceReport = 0
        let columnList = table.columns.map { PostgresName.quote($0.targetName) }.joined(separator: ", ")
        let sql = "COPY \(PostgresName.quote(target.staging)).\(PostgresName.quote(table.targetName)) (\(columnList)) FROM STDIN WITH (FORMAT binary)"
        try postgres.copyIn(sql) { put in
            while try statement.step() {
                ordinal += 1
                let start = buffer.count
                let count = UInt16(decisions.count)
                buffer.append(UInt8(count >> 8)); buffer.append(UInt8(count & 0xFF))
                var failed: (column: Int, problem: String)?
                for c in decisions.indices {
                    let value = statement.value(at: Int32(c) + offset)
                    if rejectNullKeys, keyColumns.contains(c), case .null = value { failed = (c, "NULL in the primary key"); break }
                    if !ValueEncoder.encode(value, as: decisions[c], into: &buffer) { failed = (c, "does not fit \(decisions[c].type.sql)"); break }
                }
                if let failed {
                    buffer.removeSubrange(start...)
                    let position = offset == 1 ? statement.int64(at: 0) : ordinal
                    guard let rejects else { throw Self.changedUnderneath(table, failed.column, position) }
                    try rejects.write(table: table, column: failed.column, problem: failed.problem, position: position,
                                      statement: statement, offset: offset)
                    part.rejected += 1
                    continue
                }
                buffer.withUnsafeBytes { all in
                    let row = UnsafeRawBufferPointer(rebasing: all[start...])
                    guard hashesFields else { return part.digest.add(row: row) }
                    Self.hashTuple(row, byValue: hashedByValue, into: &hashRow)
                    hashRow.withUnsafeBytes { part.digest.add(row: $0) }
                }
                sinceReport += 1
                if sinceReport == 4096 { progress.add(rows: sinceReport); sinceReport = 0 }
                if buffer.count >= Self.flushBytes {
                    try buffer.withUnsafeBytes { try put($0) }
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            buffer.append(contentsOf: [0xFF, 0xFF])
            try buffer.withUnsafeBytes { try put($0) }
        }
        progress.add(rows: sinceReport)
        return part
    }

    /// The tuple as the proof sees it: a bytea field replaced by the SHA-256 of its bytes, which
    /// is what the read-back selects (`sha256(column)`), so big documents are not read twice.
    static func hashTuple(_ tuple: UnsafeRawBufferPointer, byValue: [Bool], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(tuple[0]); out.append(tuple[1])
        var i = 2
        for hashed in byValue {
            let length = Int32(bitPattern: UInt32(tuple[i]) << 24 | UInt32(tuple[i + 1]) << 16 | UInt32(tuple[i + 2]) << 8 | UInt32(tuple[i + 3]))
            if length < 0 {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: tuple[i..<(i + 4)]))
                i += 4
                continue
            }
            let end = i + 4 + Int(length)
            if hashed {
                out.append(contentsOf: [0, 0, 0, 32])
                out.append(contentsOf: SHA256.hash(data: UnsafeRawBufferPointer(rebasing: tuple[(i + 4)..<end])))
            } else {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: tuple[i..<end]))
            }
            i = end
        }
    }

    /// The moment is pinned: a value the read pass accepted always encodes.
    static func changedUnderneath(_ table: MigrationPlan.Table, _ column: Int, _ position: Int64) -> EHRError {
        EHRError(.failure, "table \(table.info.name), column \(table.columns[column].name), row \(position): a value the read pass accepted does not encode as \(table.columns[column].decision.type.sql)",
                 hint: "report this: it is a bug in migrate; nothing was put in place")
    }

    /// Makes the generated columns whose translation gives SQLite's values generated ones, adds
    /// each table's primary key and starts each identity after the highest id. A key the data
    /// violates (duplicates once converted) fails a `stop` run and is left out otherwise.
    static func finishTables(_ plan: inout MigrationPlan, target: MigrationTarget, jobs: Int, policy: MismatchPolicy) throws -> [String] {
        let tables = plan.tables
        let steps = plan.schema.tableSteps
        let outcomes = try ParallelJobs.run(count: tables.count, workers: jobs, makeState: { try target.connect() }, job: { db, i -> (String?, [Int: String], [MigrationSchema.Step], [String]) in
            let plain = try MigrationGenerated.apply(tables[i], staging: target.staging, db: db)
            let keyProblem = try finishTable(tables[i], target: target, db: db)
            var done = i < steps.count ? steps[i] : []
            var violations: [String] = []
            for k in done.indices { if let v = try MigrationSchema.run(&done[k], db: db, policy: policy) { violations.append(v) } }
            return (keyProblem, plain, done, violations)
        })
        var failures: [String] = []
        for (i, (problem, plain, done, violations)) in outcomes.enumerated() {
            if i < plan.schema.tableSteps.count { plan.schema.tableSteps[i] = done }
            failures += violations
            for (c, reason) in plain {
                plan.tables[i].columns[c].generatedSQL = nil
                plan.tables[i].columns[c].decision.warnings.append("generated column: migrated as a plain column holding SQLite's values: \(reason)")
            }
            guard let problem else { continue }
            if policy == .stop {
                failures.append("\(tables[i].info.name): \(problem)")
            } else {
                plan.tables[i].primaryKey = nil
                plan.tables[i].warnings.append("primary key left out: \(problem)")
            }
        }
        return failures
    }

    private static func finishTable(_ t: MigrationPlan.Table, target: MigrationTarget, db: PostgresConnection) throws -> String? {
        let name = PostgresName.quote(target.staging) + "." + PostgresName.quote(t.targetName)
        if let id = t.identityColumn, let start = t.identityStart {
            try db.execute("ALTER TABLE \(name) ALTER COLUMN \(PostgresName.quote(t.columns[id].targetName)) RESTART WITH \(start)")
        }
        guard let key = t.primaryKey else { return nil }
        let columns = key.map { PostgresName.quote(t.columns[$0].targetName) }.joined(separator: ", ")
        do {
            try db.execute("ALTER TABLE \(name) ADD PRIMARY KEY (\(columns))")
        } catch let error as PostgresError where error.sqlState == "23505" || error.sqlState == "23502" {
            let what = error.sqlState == "23505" ? "duplicate values" : "NULLs"
            return "the primary key (\(key.map { t.columns[$0].name }.joined(separator: ", "))) has \(what) in the data"
        }
        return nil
    }
}
