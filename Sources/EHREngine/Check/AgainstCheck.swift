import EHRArchive
import EHRCore
import EHRPostgres
import EHRSQLite
import Foundation
import Logging

/// `check --against SNAPSHOT`: what changed in the live sources since a snapshot, per table.
/// PostgreSQL: every table's content digest, computed as the snapshot's was (COPY text under the
/// snapshot's session settings, hashed columns by their SHA-256; docs/ARCHIVE-FORMAT.md, "The
/// content digest"), against the manifest's. SQLite: the snapshot's copy is restored into a
/// scratch file (a drill's scratch copy, under an intent record), and both files' tables are
/// digested row by row alike. One result per table, `drift:TABLE`: violations are the
/// difference in rows, or 1 when the counts agree and the contents do not; a table only on one
/// side counts all its rows.
struct AgainstCheck {
    let archive: Archive
    let configuration: Configuration
    let selector: SnapshotSelector
    let sources: [String]
    let logger: Logger

    func run() throws -> [CheckResult] {
        let lock = try ArchiveLock(archive: archive, mode: .reader, command: "check", wait: 0, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let id = try archive.resolve(selector)
        let manifest = try archive.manifest(of: id)
        IntentRecovery(archive: archive, logger: logger, sqlitePaths: configuration.sqlitePaths,
                       postgresConnections: configuration.connections).run(holdingWriteLock: false)
        var results: [CheckResult] = []
        for source in manifest.sources where sources.isEmpty || sources.contains(source.name) {
            let (found, seconds) = Stopwatch.time { () -> [CheckResult] in
                do {
                    guard let live = configuration.source(named: source.name), live.kind == source.kind else {
                        throw EHRError(.configuration, "the source is not in the config (or of another kind)", hint: "add it to the config")
                    }
                    switch source.kind {
                    case .sqlite: return try sqlite(source, live: live.path ?? "", id: id)
                    case .postgres: return try postgres(source, connection: live.connection ?? "")
                    }
                } catch {
                    return [CheckResult(name: "drift", source: source.name, kind: "drift", status: .error,
                                        detail: CheckFailure.describe(ErrorMapping.map(error), timeout: nil))]
                }
            }
            let each = seconds / Double(max(1, found.count))
            results += found.map { var r = $0; r.seconds = each; return r }
        }
        return results
    }

    static func result(_ table: String, source: String, snapshot: (rows: Int64, digest: String)?,
                       live: (rows: Int64, digest: String)?) -> CheckResult {
        let name = "drift:\(table)"
        switch (snapshot, live) {
        case let (s?, l?):
            let difference = s.rows > l.rows ? s.rows - l.rows : l.rows - s.rows
            return .counted(name, source: source, kind: "drift", violations: s.digest == l.digest ? 0 : max(1, difference),
                            detail: "snapshot \(s.rows) rows, live \(l.rows) rows; contents differ")
        case let (s?, nil):
            return .counted(name, source: source, kind: "drift", violations: max(1, s.rows), detail: "in the snapshot (\(s.rows) rows), gone from the live source")
        case let (nil, l?):
            return .counted(name, source: source, kind: "drift", violations: max(1, l.rows), detail: "new since the snapshot (\(l.rows) rows)")
        case (nil, nil):
            return .counted(name, source: source, kind: "drift", violations: 0)
        }
    }

    private func postgres(_ source: Manifest.Source, connection: String) throws -> [CheckResult] {
        guard let info = source.postgres else { throw EHRError(.verificationFailed, "the manifest has no postgres section", hint: "use another snapshot") }
        let db = try CheckTarget.postgres(connection: connection, database: nil).openReadOnly(timeout: configuration.check.statementTimeout)
        try PostgresSourceCapture.applySettings(info.copySettings, on: db)
        var results: [CheckResult] = []
        var seen = Set<String>()
        for table in info.tables {
            let name = PostgresConnection.qualified(table.schema, table.name)
            seen.insert(table.schema + "." + table.name)
            let display = table.schema == "public" ? table.name : "\(table.schema).\(table.name)"
            let exists = try db.value("SELECT to_regclass(\(db.literal(name))) IS NOT NULL") == "t"
            var live: (Int64, String)?
            if exists {
                let hashed = Set(table.hashedColumns ?? [])
                let select = table.columns.map { c in
                    hashed.contains(c) ? "pg_catalog.sha256(\(PostgresConnection.identifier(c)))" : PostgresConnection.identifier(c)
                }.joined(separator: ", ")
                var digest = ContentDigest()
                try db.copyOut("COPY (SELECT \(select) FROM ONLY \(name)) TO STDOUT") { digest.add(row: $0) }
                live = (digest.rows, digest.text)
            }
            results.append(Self.result(display, source: source.name, snapshot: (table.rows, table.digest), live: live))
        }
        let schemas = Set(info.tables.map(\.schema))
        for row in try db.rows("""
            SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
            ORDER BY 1, 2
            """) {
            guard let schema = row[0], let table = row[1], schemas.isEmpty || schemas.contains(schema) || schema == "public",
                  !seen.contains(schema + "." + table) else { continue }
            let rows = Int64(try db.value("SELECT count(*) FROM ONLY \(PostgresConnection.qualified(schema, table))") ?? "0") ?? 0
            results.append(Self.result(schema == "public" ? table : "\(schema).\(table)", source: source.name, snapshot: nil, live: (rows, "new")))
        }
        try db.execute("COMMIT")
        return results
    }

    private func sqlite(_ source: Manifest.Source, live path: String, id: SnapshotID) throws -> [CheckResult] {
        let copy = try ScratchCopy(source: source, archive: archive, snapshot: id, stamp: String(Timestamp.compactUTC(Date()).prefix(15)),
                                   scratch: Paths.absolute(configuration.drill.scratchDirectory ?? NSTemporaryDirectory()),
                                   server: nil, logger: logger)
        defer { copy.remove() }
        try copy.materialize()
        guard case .sqlite(let scratchPath) = copy.target else { return [] }
        let snapshot = try Self.digests(CheckTarget.sqlite(path: scratchPath).openSQLite())
        let live = try Self.digests(CheckTarget.sqlite(path: path).openSQLite())
        return Set(snapshot.keys).union(live.keys).sorted().map { table in
            Self.result(table, source: source.name, snapshot: snapshot[table], live: live[table])
        }
    }

    /// Every table's rows and an order-independent digest of its values (type and bytes of
    /// each), read in one transaction.
    static func digests(_ db: SQLiteConnection) throws -> [String: (rows: Int64, digest: String)] {
        try db.execute("BEGIN")
        defer { try? db.execute("COMMIT") }
        var out: [String: (Int64, String)] = [:]
        var buffer: [UInt8] = []
        for table in try db.tableNames() {
            let statement = try db.prepare("SELECT * FROM \(SQLiteConnection.quoteIdentifier(table))")
            var digest = ContentDigest()
            while try statement.step() {
                buffer.removeAll(keepingCapacity: true)
                for c in 0..<statement.columnCount {
                    switch statement.value(at: c) {
                    case .null: buffer.append(0)
                    case .integer(let v): buffer.append(1); withUnsafeBytes(of: v.bigEndian) { buffer.append(contentsOf: $0) }
                    case .real(let v): buffer.append(2); withUnsafeBytes(of: v.bitPattern.bigEndian) { buffer.append(contentsOf: $0) }
                    case .text(let b): buffer.append(3); withUnsafeBytes(of: UInt64(b.count).bigEndian) { buffer.append(contentsOf: $0) }; buffer.append(contentsOf: b)
                    case .blob(let b): buffer.append(4); withUnsafeBytes(of: UInt64(b.count).bigEndian) { buffer.append(contentsOf: $0) }; buffer.append(contentsOf: b)
                    }
                }
                buffer.withUnsafeBytes { digest.add(row: $0) }
            }
            out[table] = (digest.rows, digest.text)
        }
        return out
    }
}

extension CheckEngine {
    /// `check --against SNAPSHOT`: the drift of the live sources (all, or `sources`) since it.
    public func against(_ selector: SnapshotSelector, sources: [String]) throws -> Report {
        for name in sources where configuration.source(named: name) == nil {
            throw EHRError(.notFound, "source '\(name)' is not in the config",
                           hint: "configured: \(configuration.sources.map(\.name).joined(separator: ", "))")
        }
        let archive = try Archive.open(at: configuration.archive)
        let results = try AgainstCheck(archive: archive, configuration: configuration, selector: selector, sources: sources, logger: logger).run()
        return Report(results: results, peakMemoryBytes: PeakMemory.bytes(), stored: false, verdict: Self.verdictName(results))
    }
}
