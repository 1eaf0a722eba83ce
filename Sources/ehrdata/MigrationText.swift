import EHRCore
import EHREngine
import Foundation

/// The migrate report as text: a summary, a table per SQLite table, then every type decision
/// and warning. Counts and names only, never values.
enum MigrationText {
    static func render(_ r: MigrationReport) -> String {
        r.plan ? renderPlan(r) : renderRun(r)
    }

    /// `--plan`: the statements a run would execute, every decision, what is not carried over.
    static func renderPlan(_ r: MigrationReport) -> String {
        var lines = ["plan for \(r.source) (\(r.moment)) into schema \(r.schema) of database \(r.database): "
            + "\(r.tables.count) tables, \(r.tables.reduce(0) { $0 + $1.rowsRead }) rows; nothing was written"]
        if !r.mismatches.isEmpty {
            let outcome = r.onMismatch == .stop ? "stops, exit 79" : "handles them as the report says"
            lines += ["", "Values that do not fit (a run with --on-mismatch \(r.onMismatch.rawValue) \(outcome)):"]
            lines += r.mismatches.map { "  \($0)" }
        }
        lines += ["", "DDL (after the data: NOT NULL, defaults, CHECK, UNIQUE, indexes, foreign keys, views):"]
        lines += r.ddl.map { "  \($0);" }
        lines += details(r)
        return lines.joined(separator: "\n")
    }

    static func renderRun(_ r: MigrationReport) -> String {
        var lines = ["migrated \(r.source) (\(r.moment)) into schema \(r.schema) of database \(r.database): "
            + "\(r.tables.count) tables, \(r.rowsLoaded) rows loaded" + (r.rowsRejected > 0 ? ", \(r.rowsRejected) rejected" : "")
            + "; parity \(r.parityOK ? "proven" : "FAILED") (row counts and content digests, read back after commit)"]
        lines.append("")
        lines.append(Output.table(["TABLE", "READ", "LOADED", "REJECTED", "PARITY", "KEY"], r.tables.map { t in
            [t.name == t.targetName ? t.name : "\(t.name) -> \(t.targetName)", "\(t.rowsRead)", "\(t.rowsLoaded)", "\(t.rowsRejected)",
             t.parity, t.primaryKey.map { "(\($0.joined(separator: ", ")))" + (t.identityStart.map { " identity from \($0)" } ?? "") } ?? "-"]
        }))
        if !r.schemaObjects.isEmpty {
            lines.append("")
            lines.append(Output.table(["KIND", "NAME", "TABLE", "STATUS"], r.schemaObjects.map { [$0.kind, $0.name, $0.table, $0.status] }))
        }
        lines += details(r)
        if let file = r.rejectFile { lines.append("rejected rows written to \(file) (mode 0600: it holds the rows' values)") }
        if let kept = r.replacedSchemaKeptAs { lines.append("the schema it replaced is kept as \(kept)") }
        let phases = ["copy", "read", "load", "keys", "proof", "swap"].compactMap { k in r.seconds[k].map { "\(k) \(String(format: "%.2f", $0)) s" } }
        if !phases.isEmpty { lines.append("time: " + phases.joined(separator: ", ")) }
        return lines.joined(separator: "\n")
    }

    /// Every type decision, what is not carried over, and every warning.
    private static func details(_ r: MigrationReport) -> [String] {
        var lines: [String] = []
        lines.append("")
        lines.append("Types:")
        for t in r.tables {
            for c in t.columns {
                let declared = c.declared.isEmpty ? "(none)" : c.declared
                let storage = [("null", c.storage.null), ("integer", c.storage.integer), ("real", c.storage.real),
                               ("text", c.storage.text), ("blob", c.storage.blob)].filter { $0.1 > 0 }.map { "\($0.1) \($0.0)" }
                lines.append("  \(t.name).\(c.name): \(declared) -> \(c.type)\(c.identity ? " identity" : "") [\(storage.joined(separator: ", "))]: \(c.reason)")
            }
        }
        let warnings = r.warnings + r.tables.flatMap { t in
            t.warnings.map { "\(t.name): \($0)" } + t.columns.flatMap { c in c.warnings.map { "\(t.name).\(c.name): \($0)" } }
        }
        if !r.untranslated.isEmpty {
            lines.append("")
            lines.append("Not carried over (SQLite's text, and why):")
            for u in r.untranslated {
                lines.append("  \(u.kind) \(u.name)\(u.table.map { " on \($0)" } ?? ""): \(u.reason)")
                lines += u.sql.split(separator: "\n", omittingEmptySubsequences: false).map { "      \($0)" }
            }
        }
        if !warnings.isEmpty {
            lines.append("")
            lines.append("Warnings:")
            lines += warnings.map { "  \($0)" }
        }
        return lines
    }
}

extension ProgressDisplay {
    /// migrate's line: phase, parts, rows and rate.
    convenience init(_ progress: MigrationProgress) {
        let started = Date()
        self.init {
            let s = progress.snapshot
            let elapsed = max(0.001, Date().timeIntervalSince(started))
            var text = "migrate: \(s.phase)"
            if s.totalParts > 0 { text += " \(s.parts)/\(s.totalParts) parts, \(s.rows)/\(s.totalRows) rows" }
            if s.rows > 0 { text += ", \(Int(Double(s.rows) / elapsed)) rows/s" }
            return text
        }
    }
}
