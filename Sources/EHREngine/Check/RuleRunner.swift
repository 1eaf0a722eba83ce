import EHRCore
import EHRPostgres
import EHRSQLite

/// One rule across services. Each side's query runs read-only on its own connection (SQLite
/// opened read-only, the query refused before it runs if it would write; PostgreSQL in a READ
/// ONLY transaction) under `check.statement_timeout`. A keys rule streams both sides sorted and
/// merges them (KeyMerge), so memory does not grow with the number of keys.
struct RuleRunner {
    let rule: Rule
    let targets: [String: CheckTarget]
    let timeout: Double?
    /// keys: how many missing keys to list (--show-keys); 0 lists none.
    let showKeys: Int

    static let shownKeys = 10

    func run() -> CheckResult {
        let name = "rule:\(rule.name)"
        let (result, seconds) = Stopwatch.time { () -> CheckResult in
            var sideName = rule.kind == .keys ? "each" : "left"
            do {
                switch rule.kind {
                case .count:
                    let left = try count(rule.first)
                    sideName = "right"
                    let right = try count(rule.second)
                    let difference = left > right ? left - right : right - left
                    return .counted(name, source: rule.first.source, kind: "count", violations: difference > rule.tolerance ? difference : 0,
                                    detail: "left \(left), right \(right), tolerance \(rule.tolerance)")
                case .keys:
                    var each = try keyStream(rule.first)
                    sideName = "exists_in"
                    var existsIn = try keyStream(rule.second)
                    var merge = KeyMerge(keep: showKeys)
                    var failedSide = "each"
                    do {
                        try merge.run(each: { failedSide = "each"; return try each.next() },
                                      existsIn: { failedSide = "exists_in"; return try existsIn.next() })
                    } catch {
                        sideName = failedSide
                        throw error
                    }
                    each = .empty
                    existsIn = .empty
                    var result = CheckResult.counted(name, source: rule.first.source, kind: "keys", violations: merge.missing,
                                                     detail: "distinct keys of 'each' missing from 'exists_in'")
                    result.nullKeys = merge.nullKeys
                    if showKeys > 0 { result.missingKeys = merge.shown.map { String(decoding: $0, as: UTF8.self) } }
                    return result
                }
            } catch KeyMergeError.unsorted(let side) {
                return CheckResult(name: name, source: rule.first.source, kind: rule.kind.rawValue, status: .error,
                                   detail: "the keys of '\(side)' did not arrive sorted; report this")
            } catch {
                return CheckResult(name: name, source: rule.first.source, kind: rule.kind.rawValue, status: .error,
                                   detail: "'\(sideName)' on source '\(side(sideName).source)': \(CheckFailure.describe(error, timeout: timeout))")
            }
        }
        var timed = result
        timed.seconds = seconds
        return timed
    }

    private func side(_ name: String) -> Rule.Side { name == "each" || name == "left" ? rule.first : rule.second }

    private func target(_ side: Rule.Side) throws -> CheckTarget {
        guard let target = targets[side.source] else {
            throw EHRError(.configuration, "the source is not available here (not in the config, or not in the snapshot)",
                           hint: "name a configured source")
        }
        return target
    }

    /// A SQLite query, refused before it runs when it would write.
    private func prepareReadOnly(_ db: SQLiteConnection, _ query: String) throws -> SQLiteStatement {
        let statement = try db.prepare(KeySQL.trimmed(query))
        guard statement.isReadOnly else { throw SQLiteError(code: 8, message: "the query writes", context: "checking a rule's query") }
        return statement
    }

    private func count(_ side: Rule.Side) throws -> Int64 {
        let text: String?
        switch try target(side) {
        case let t where t.kind == .sqlite:
            let db = try t.openSQLite()
            let statement = try prepareReadOnly(db, side.query)
            db.setDeadline(after: timeout)
            defer { db.setDeadline(after: nil) }
            text = try statement.step() ? statement.text(at: 0) : nil
        case let t:
            let db = try t.openReadOnly(timeout: timeout)
            text = try db.value(KeySQL.trimmed(side.query))
            try db.execute("COMMIT")
        }
        guard let text, let value = Int64(text.trimmingCharacters(in: .whitespaces)) else {
            throw EHRError(.failure, "the query returned no whole number in its first row and column", hint: "write a SELECT count(*) …")
        }
        return value
    }

    private func keyStream(_ side: Rule.Side) throws -> KeyStream {
        let t = try target(side)
        switch t {
        case .sqlite:
            let db = try t.openSQLite()
            let columns = Int(try prepareReadOnly(db, side.query).columnCount)
            let statement = try db.prepare(KeySQL.sqlite(side.query, columns: columns))
            db.setDeadline(after: timeout)
            return .sqlite(db, statement)
        case .postgres:
            let db = try t.openReadOnly(timeout: timeout)
            return .postgres(db, try db.copyOutStream(KeySQL.postgres(side.query)))
        }
    }
}

/// One side of a keys rule, pulled one normalised key at a time.
enum KeyStream {
    case sqlite(SQLiteConnection, SQLiteStatement)
    case postgres(PostgresConnection, CopyOutStream)
    case empty

    mutating func next() throws -> KeyMerge.Next {
        switch self {
        case .sqlite(_, let statement):
            guard try statement.step() else { return .end }
            switch statement.value(at: 0) {
            case .null: return .key(nil)
            case .text(let bytes), .blob(let bytes): return .key(Array(bytes))
            case .integer(let v): return .key(Array(String(v).utf8))
            case .real(let v): return .key(Array(String(v).utf8))
            }
        case .postgres(_, let stream):
            guard let row = try stream.next() else { return .end }
            return .key(KeySQL.decodeCopyText(row))
        case .empty:
            return .end
        }
    }
}
