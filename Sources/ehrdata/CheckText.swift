import EHRCore
import EHREngine
import Foundation

/// The terminal form of check and drill results: one line per check.
enum CheckText {
    static func table(_ results: [CheckResult]) -> String {
        guard !results.isEmpty else { return "no checks ran (no sources selected, no rules)" }
        var out = Output.table(["CHECK", "SOURCE", "STATUS", "VIOLATIONS", "SECONDS"], results.map { r in
            [r.name, r.source, r.status.rawValue.uppercased(), "\(r.violations)", String(format: "%.2f", r.seconds)]
        })
        for r in results where r.status != .pass {
            if let detail = r.detail, !detail.isEmpty { out += "\n  \(r.name) (\(r.source)): \(detail)" }
            if let keys = r.missingKeys, !keys.isEmpty { out += "\n    first missing keys: " + keys.joined(separator: ", ") }
        }
        for r in results where (r.nullKeys ?? 0) > 0 {
            out += "\n  \(r.name): \(r.nullKeys!) NULL key\(r.nullKeys == 1 ? "" : "s") of 'each' skipped"
        }
        return out
    }

    /// 81 when anything was found, else 82 when a check could not run, else nothing.
    static func failure(_ results: [CheckResult], what: String) -> EHRError? {
        let failed = results.filter { $0.status == .fail }
        let errors = results.filter { $0.status == .error }
        switch CheckVerdict(results) {
        case .consistent: return nil
        case .inconsistent:
            return EHRError(.inconsistencyFound,
                            "\(what) found inconsistencies: " + failed.map { "\($0.name) on \($0.source) (\($0.violations))" }.joined(separator: ", ")
                                + (errors.isEmpty ? "" : "; \(errors.count) check\(errors.count == 1 ? "" : "s") could not run"),
                            hint: "see docs/CHECK.md for what each check means and docs/RUNBOOK.md for what to do")
        case .incomplete:
            return EHRError(.checkCouldNotRun,
                            "\(errors.count) check\(errors.count == 1 ? "" : "s") could not run: " + errors.map { "\($0.name) on \($0.source)" }.joined(separator: ", "),
                            hint: "the table (or --json) says why for each; fix the source or the rule and run again")
        }
    }
}
