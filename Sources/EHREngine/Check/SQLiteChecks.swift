import EHRCore
import EHRSQLite

/// The built-in checks of a SQLite source, on a read-only connection: `integrity`
/// (integrity_check, or quick_check with --quick; violations = the problems SQLite lists, at
/// most `problemLimit`) and `foreign_key` (foreign_key_check; violations = violating rows).
struct SQLiteChecks {
    let source: String
    let target: CheckTarget
    let quick: Bool
    static let problemLimit = 100

    func run() -> [CheckResult] {
        let integrityName = quick ? "integrity (quick_check)" : "integrity"
        let db: SQLiteConnection
        do { db = try target.openSQLite() } catch {
            let reason = CheckFailure.describe(error, timeout: nil)
            return [integrityName, "foreign_key"].map {
                CheckResult(name: $0, source: source, kind: "sqlite", status: .error, detail: reason)
            }
        }
        var results: [CheckResult] = []
        results.append(measure(integrityName) {
            let problems = quick ? try db.quickCheckProblems(limit: Self.problemLimit) : try db.integrityProblems(limit: Self.problemLimit)
            return .counted(integrityName, source: source, kind: "sqlite", violations: Int64(problems.count),
                            detail: problems.first.map { "first: \($0)" })
        })
        results.append(measure("foreign_key") {
            let tables = try db.foreignKeyViolations()
            return .counted("foreign_key", source: source, kind: "sqlite", violations: tables.reduce(0) { $0 + $1.rows },
                            detail: tables.map { "\($0.table): \($0.rows)" }.joined(separator: ", "))
        })
        return results
    }

    private func measure(_ name: String, _ body: () throws -> CheckResult) -> CheckResult {
        let (result, seconds) = Stopwatch.time { () -> CheckResult in
            do { return try body() } catch {
                // A file too damaged to read is what integrity reports, as a finding.
                if name.hasPrefix("integrity"), let e = error as? SQLiteError, e.isCorrupt || e.isNotADatabase {
                    return CheckResult(name: name, source: source, kind: "sqlite", status: .fail, violations: 1, detail: e.message)
                }
                return CheckResult(name: name, source: source, kind: "sqlite", status: .error,
                                   detail: CheckFailure.describe(error, timeout: nil))
            }
        }
        var timed = result
        timed.seconds = seconds
        return timed
    }
}
