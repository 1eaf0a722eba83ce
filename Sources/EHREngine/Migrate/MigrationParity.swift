import EHRArchive
import EHRCore
import EHRPostgres
import Foundation

/// The PostgreSQL side of the proof: every table read back after the load committed, over
/// fresh connections in parallel (a big table in block ranges), as COPY BINARY with bytea
/// columns as their SHA-256, into the same order-independent digest the load computed from
/// SQLite's values. Equal digests mean the same multiset of rows, value for value. Identities
/// are checked to continue past their column's highest value.
struct MigrationParity {
    let target: MigrationTarget
    let schema: String
    let jobs: Int

    struct Unit {
        var table: Int
        var sql: String
    }

    func digests(_ plan: MigrationPlan) throws -> [ContentDigest] {
        let units = try self.units(plan)
        let parts = try ParallelJobs.run(count: units.count, workers: jobs, makeState: {
            let db = try self.target.connect()
            try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return db
        }, job: { db, i -> ContentDigest in
            var digest = ContentDigest()
            var reader = BinaryCopyReader()
            try db.copyOut(units[i].sql) { message in try reader.feed(message) { digest.add(row: $0) } }
            try reader.finish()
            return digest
        })
        var byTable = [ContentDigest](repeating: ContentDigest(), count: plan.tables.count)
        for (unit, digest) in zip(units, parts) { byTable[unit.table].merge(digest) }
        return byTable
    }

    private func units(_ plan: MigrationPlan) throws -> [Unit] {
        let db = try target.connect()
        var units: [Unit] = []
        for (index, table) in plan.tables.enumerated() {
            let name = PostgresName.quote(schema) + "." + PostgresName.quote(table.targetName)
            let select = table.columns.map { c in
                c.decision.type == .bytea ? "pg_catalog.sha256(\(PostgresName.quote(c.targetName)))" : PostgresName.quote(c.targetName)
            }.joined(separator: ", ")
            func unit(_ filter: String) -> Unit {
                Unit(table: index, sql: "COPY (SELECT \(select) FROM ONLY \(name)\(filter)) TO STDOUT WITH (FORMAT binary)")
            }
            guard jobs > 1, table.rowCount >= MigrationAnalysis.splitRows else { units.append(unit("")); continue }
            units += try BlockRanges.filters(name, parts: jobs, on: db).map(unit)
        }
        return units
    }

    /// What is wrong with identities whose next value is not past their column's highest
    /// (none when each continues after it).
    func identityProblems(_ plan: MigrationPlan) throws -> [String] {
        let db = try target.connect()
        var problems: [String] = []
        for table in plan.tables {
            guard let id = table.identityColumn, table.identityStart != nil else { continue }
            let name = PostgresName.quote(schema) + "." + PostgresName.quote(table.targetName)
            let column = PostgresName.quote(table.columns[id].targetName)
            let highest = try db.value("SELECT max(\(column)) FROM \(name)").flatMap { Int64($0) }
            guard let sequence = try db.value("SELECT pg_get_serial_sequence(\(db.literal(name)), \(db.literal(table.columns[id].targetName)))"),
                  let row = try db.rows("SELECT last_value, is_called FROM \(sequence)").first, let last = row[0].flatMap({ Int64($0) }) else {
                problems.append("\(table.info.name): the identity's sequence cannot be read")
                continue
            }
            let next = row[1] == "t" ? last + 1 : last
            if let highest, next <= highest {
                problems.append("\(table.info.name): the identity's next value is not past the highest id")
            }
        }
        return problems
    }
}

/// COPY BINARY out, one message at a time: the first carries the 19-byte header before the
/// first tuple, the last is the trailer (-1), each other one is exactly one tuple.
struct BinaryCopyReader {
    private var sawHeader = false
    private var sawTrailer = false

    mutating func feed(_ message: UnsafeRawBufferPointer, tuple: (UnsafeRawBufferPointer) -> Void) throws {
        var body = message
        if !sawHeader {
            guard message.count >= 19, message.starts(with: MigrationLoad.header.prefix(11)) else { throw Self.bad }
            sawHeader = true
            body = UnsafeRawBufferPointer(rebasing: message[19...])
            if body.isEmpty { return }
        }
        guard !sawTrailer else { throw Self.bad }
        if body.count == 2, body[0] == 0xFF, body[1] == 0xFF { sawTrailer = true; return }
        tuple(body)
    }

    func finish() throws { guard sawTrailer else { throw Self.bad } }

    static let bad = EHRError(.failure, "PostgreSQL's COPY BINARY output is not in the expected form", hint: "report this")
}
