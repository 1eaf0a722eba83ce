/// One line of a `check` or `drill` report: a built-in check of one source, or a rule.
/// The field names are the JSON output and the stored record (docs/CHECK.md).
public struct CheckResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Ran and found nothing.
        case pass
        /// Ran and found `violations`.
        case fail
        /// Could not run (a source unreachable, a query that failed or tried to write).
        case error
        /// Not applicable here (amcheck not installed).
        case skipped
    }

    /// Contains the check's word: `integrity`, `foreign_key`, `not_valid`, `sequence`,
    /// `amcheck`, or `rule:NAME`, `parity:TABLE`.
    public var name: String
    /// The configured source (a rule: `each`'s or `left`'s), also when a drill checks a copy.
    public var source: String
    /// `sqlite`, `postgres`, `keys`, `count` or `parity`.
    public var kind: String
    public var status: Status
    public var violations: Int64
    public var seconds: Double
    /// Why it could not run, or what was found, without any row value.
    public var detail: String?
    /// keys rules: keys of `each` that were NULL, skipped.
    public var nullKeys: Int64?
    /// keys rules with --show-keys: the first missing keys (identifiers only).
    public var missingKeys: [String]?

    public init(name: String, source: String, kind: String, status: Status, violations: Int64 = 0,
                seconds: Double = 0, detail: String? = nil) {
        self.name = name
        self.source = source
        self.kind = kind
        self.status = status
        self.violations = violations
        self.seconds = seconds
        self.detail = detail
    }

    /// pass or fail by the count.
    public static func counted(_ name: String, source: String, kind: String, violations: Int64,
                               detail: String? = nil) -> CheckResult {
        CheckResult(name: name, source: source, kind: kind, status: violations > 0 ? .fail : .pass,
                    violations: violations, detail: violations > 0 ? detail : nil)
    }
}

/// What a list of results means for the exit code: 81 when anything was found (even if another
/// check could not run), else 82 when a check could not run, else 0. `skipped` counts as pass.
public enum CheckVerdict: Sendable, Equatable {
    case consistent
    case inconsistent
    case incomplete

    public init(_ results: [CheckResult]) {
        if results.contains(where: { $0.status == .fail }) {
            self = .inconsistent
        } else if results.contains(where: { $0.status == .error }) {
            self = .incomplete
        } else {
            self = .consistent
        }
    }

    /// The error kind the executable exits with, or nil for 0.
    public var errorKind: EHRError.Kind? {
        switch self {
        case .consistent: nil
        case .inconsistent: .inconsistencyFound
        case .incomplete: .checkCouldNotRun
        }
    }
}
