import EHRArchive
import EHRCore
import Foundation
import Logging

/// `ehrdata check`: the built-in checks inside each source and the config's rules across them,
/// everything read-only (docs/CHECK.md). The result goes into the archive (`results/check.json`)
/// when there is one; without one the check still runs, and says its result was not stored.
public struct CheckEngine {
    public let configuration: Configuration
    public let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public struct Request: Sendable {
        /// Built-in checks of only these sources (and the rules whose sides are all among them).
        public var sources: [String]
        /// Only these rules (with `sources` empty: no built-in checks).
        public var rules: [String]
        /// SQLite quick_check instead of integrity_check.
        public var quick: Bool
        /// List the first missing keys of each keys rule (identifiers only).
        public var showKeys: Bool
        public init(sources: [String] = [], rules: [String] = [], quick: Bool = false, showKeys: Bool = false) {
            self.sources = sources
            self.rules = rules
            self.quick = quick
            self.showKeys = showKeys
        }
    }

    public struct Report: Codable, Sendable {
        public var results: [CheckResult]
        /// The process's peak resident memory, in bytes.
        public var peakMemoryBytes: Int64
        /// Whether the result was written to the archive.
        public var stored: Bool
        public var verdict: String
    }

    public func run(_ request: Request) throws -> Report {
        let (sources, rules) = try select(request)
        let targets = CheckTarget.live(configuration)
        let results = Self.checks(sources: sources, rules: rules, targets: targets, quick: request.quick,
                                  showKeys: request.showKeys, timeout: configuration.check.statementTimeout, logger: logger)
        var report = Report(results: results, peakMemoryBytes: PeakMemory.bytes(), stored: false,
                            verdict: Self.verdictName(results))
        report.stored = store(report, as: ResultRecord.checkName)
        return report
    }

    /// The built-in checks of `sources`, then `rules`, in order, against `targets`.
    static func checks(sources: [SourceConfig], rules: [Rule], targets: [String: CheckTarget], quick: Bool,
                       showKeys: Bool, timeout: Double?, logger: Logger) -> [CheckResult] {
        var results: [CheckResult] = []
        for source in sources {
            guard let target = targets[source.name] else { continue }
            switch target {
            case .sqlite: results += SQLiteChecks(source: source.name, target: target, quick: quick).run()
            case .postgres: results += PostgresChecks(source: source.name, target: target, timeout: timeout).run()
            }
        }
        for rule in rules {
            results.append(RuleRunner(rule: rule, targets: targets, timeout: timeout,
                                      showKeys: showKeys ? RuleRunner.shownKeys : 0).run())
        }
        for r in results {
            logger.info("check done", metadata: ["check": "\(r.name)", "source": "\(r.source)", "status": "\(r.status.rawValue)",
                                                 "violations": "\(r.violations)", "seconds": "\(String(format: "%.2f", r.seconds))"])
        }
        return results
    }

    static func verdictName(_ results: [CheckResult]) -> String {
        switch CheckVerdict(results) {
        case .consistent: "consistent"
        case .inconsistent: "inconsistent"
        case .incomplete: "incomplete"
        }
    }

    private func select(_ request: Request) throws -> ([SourceConfig], [Rule]) {
        for name in request.sources where configuration.source(named: name) == nil {
            throw EHRError(.notFound, "source '\(name)' is not in the config",
                           hint: "configured: \(configuration.sources.map(\.name).joined(separator: ", "))")
        }
        for name in request.rules where !configuration.rules.contains(where: { $0.name == name }) {
            throw EHRError(.notFound, "rule '\(name)' is not in the config",
                           hint: configuration.rules.isEmpty ? "the config declares no rules: see docs/CHECK.md"
                               : "configured: \(configuration.rules.map(\.name).joined(separator: ", "))")
        }
        if request.sources.isEmpty && request.rules.isEmpty { return (configuration.sources, configuration.rules) }
        let sources = configuration.sources.filter { request.sources.contains($0.name) }
        let rules = configuration.rules.filter { rule in
            request.rules.contains(rule.name)
                || (!request.sources.isEmpty && request.sources.contains(rule.first.source) && request.sources.contains(rule.second.source))
        }
        return (sources, rules)
    }

    /// Writes the result into the archive; false (with a warning) when there is none or it
    /// cannot be written.
    private func store<T: Encodable>(_ report: T, as name: String) -> Bool {
        let archive: Archive
        do { archive = try Archive.open(at: configuration.archive) } catch {
            logger.warning("no archive: the result was not stored (run 'ehrdata init' to keep the last result for status and metrics)",
                           metadata: ["archive": "\(configuration.archive)"])
            return false
        }
        do {
            try ResultRecord.store(report, command: "check", name: name, in: archive)
            // The metrics file shows the violations (its writes are atomic renames: no lock needed).
            MetricsFile.refresh(configuration, archive: archive, logger: logger)
            return true
        } catch {
            logger.warning("the result was not stored in the archive", metadata: ["reason": "\((error as? EHRError)?.message ?? "\(error)")"])
            return false
        }
    }
}
