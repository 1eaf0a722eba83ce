import EHRCore
import Foundation
import Yams

/// A strict reader for the YAML configuration. It walks Yams' node tree itself instead of using
/// a Decodable, because a decoder silently ignores unknown keys: here a misspelled key, a wrong
/// type or a missing required key is an error naming the key and its line.
public enum ConfigParser {
    public static func parse(_ text: String, origin: String, baseDirectory: String) throws -> Configuration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw fail(origin, nil, "is empty", hint: "see 'ehrdata init' for a commented sample")
            }
            root = node
        } catch let error as EHRError {
            throw error
        } catch let error as YamlError {
            throw EHRError(.configuration, "\(origin): not valid YAML: \(yamlProblem(error))",
                           hint: "fix the YAML syntax; 'ehrdata init' writes a valid sample")
        }
        let top = try Mapping(root, path: "", origin: origin,
                              allowed: ["archive", "sources", "retention", "compression", "metrics", "log", "on_failure", "rules", "check", "drill"])

        let archiveNode = try top.required("archive")
        let archive = absolute(try top.string(archiveNode, "archive"), base: baseDirectory)

        let sourcesNode = try top.required("sources")
        guard case .sequence(let list) = sourcesNode else {
            throw fail(origin, sourcesNode.mark, "key 'sources' must be a list of sources",
                       hint: "write each source as '- name: …'")
        }
        var sources: [SourceConfig] = []
        for (index, item) in list.enumerated() {
            let source = try parseSource(item, index: index, origin: origin, base: baseDirectory)
            if sources.contains(where: { $0.name == source.name }) {
                throw fail(origin, item.mark, "source name '\(source.name)' is used twice",
                           hint: "give every source its own name")
            }
            sources.append(source)
        }
        if sources.isEmpty {
            throw fail(origin, sourcesNode.mark, "key 'sources' lists no source",
                       hint: "add at least one source")
        }

        var retention = Retention()
        if let node = top.optional("retention") {
            let r = try Mapping(node, path: "retention.", origin: origin,
                                allowed: ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
                                          "keep_yearly", "keep_within", "time_zone"])
            retention.keepLast = try r.count("keep_last")
            retention.keepHourly = try r.count("keep_hourly")
            retention.keepDaily = try r.count("keep_daily")
            retention.keepWeekly = try r.count("keep_weekly")
            retention.keepMonthly = try r.count("keep_monthly")
            retention.keepYearly = try r.count("keep_yearly")
            if let withinNode = r.optional("keep_within") {
                let text = try r.string(withinNode, "keep_within")
                guard let within = RetentionWithin(text) else {
                    throw fail(origin, withinNode.mark, "key 'retention.keep_within' is '\(text)', not a duration",
                               hint: "write a number with s, m, h or d, such as 36h or 14d")
                }
                retention.keepWithin = within
            }
            if let zoneNode = r.optional("time_zone") {
                let name = try r.string(zoneNode, "time_zone")
                guard TimeZone(identifier: name) != nil else {
                    throw fail(origin, zoneNode.mark, "key 'retention.time_zone' is '\(name)', not a time zone this host knows",
                               hint: "use an IANA name such as Europe/Berlin or UTC (see /usr/share/zoneinfo)")
                }
                retention.timeZone = name
            }
        }

        var metrics = MetricsConfig()
        if let node = top.optional("metrics") {
            let m = try Mapping(node, path: "metrics.", origin: origin, allowed: ["textfile"])
            if let fileNode = m.optional("textfile") {
                metrics.textfile = absolute(try m.string(fileNode, "textfile"), base: baseDirectory)
            }
        }

        var compression = Compression()
        if let node = top.optional("compression") {
            let c = try Mapping(node, path: "compression.", origin: origin, allowed: ["codec", "level"])
            if let codecNode = c.optional("codec") {
                let name = try c.string(codecNode, "codec")
                guard let codec = Codec(rawValue: name) else {
                    throw fail(origin, codecNode.mark, "key 'compression.codec' is '\(name)'",
                               hint: "use 'gzip' (the default, gunzip-able by hand) or 'zstd'")
                }
                compression = Compression(codec: codec)
            }
            if let levelNode = c.optional("level") {
                let level = try c.integer(levelNode, "level")
                let codec = compression.codec
                guard codec.levels.contains(level) else {
                    throw fail(origin, levelNode.mark,
                               "key 'compression.level' must be \(codec.levels.lowerBound) to \(codec.levels.upperBound) for \(codec.rawValue), not \(level)",
                               hint: "\(codec.defaultLevel) is \(codec.rawValue)'s default; 1 is fastest")
                }
                compression.level = level
            }
        }

        var configuration = Configuration(archive: archive, sources: sources, retention: retention,
                                          compression: compression, origin: origin)
        try parseOperationKeys(top, into: &configuration)
        try parseCheckKeys(top, into: &configuration, base: baseDirectory)
        configuration.metrics = metrics
        return configuration
    }

    private static func parseSource(_ node: Node, index: Int, origin: String, base: String) throws -> SourceConfig {
        let m = try Mapping(node, path: "sources[\(index)].", origin: origin,
                            allowed: ["name", "kind", "path", "connection", "retries", "row_drop_warning"])
        let nameNode = try m.required("name")
        let name = try m.string(nameNode, "name")
        guard SourceConfig.isValidName(name) else {
            throw fail(origin, nameNode.mark, "source name '\(name)' is not allowed",
                       hint: "use letters, digits, '-' and '_' (up to 64), starting with a letter or digit")
        }
        let kindNode = try m.required("kind")
        let kindText = try m.string(kindNode, "kind")
        guard let kind = SourceKind(rawValue: kindText) else {
            throw fail(origin, kindNode.mark, "key 'sources[\(index)].kind' is '\(kindText)'",
                       hint: "use 'sqlite' or 'postgres'")
        }
        switch kind {
        case .sqlite:
            for key in ["connection", "retries", "row_drop_warning"] {
                if let extra = m.optional(key) {
                    throw fail(origin, extra.mark, "key 'sources[\(index)].\(key)' is for postgres sources",
                               hint: "a sqlite source takes 'path'")
                }
            }
            let pathNode = try m.required("path")
            let path = try m.string(pathNode, "path")
            return SourceConfig(name: name, kind: kind, path: absolute(path, base: base), pathAsWritten: path)
        case .postgres:
            if let extra = m.optional("path") {
                throw fail(origin, extra.mark, "key 'sources[\(index)].path' is for sqlite sources",
                           hint: "a postgres source takes 'connection' (a libpq connection string)")
            }
            let connNode = try m.required("connection")
            var config = SourceConfig(name: name, kind: kind, connection: try m.string(connNode, "connection"))
            if let retries = try m.count("retries") { config.retries = retries }
            if let percent = try m.count("row_drop_warning") {
                guard percent <= 100 else {
                    throw fail(origin, m.optional("row_drop_warning")?.mark, "key 'sources[\(index)].row_drop_warning' is \(percent)",
                               hint: "give a percent from 0 (warn on any drop) to 100 (only when a table is emptied)")
                }
                config.rowDropWarning = percent
            }
            return config
        }
    }

    static func absolute(_ path: String, base: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }

    static func fail(_ origin: String, _ mark: Mark?, _ what: String, hint: String) -> EHRError {
        let place = mark.map { "\(origin):\($0.line)" } ?? origin
        return EHRError(.configuration, "\(place): \(what)", hint: hint)
    }

    private static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return "\(problem) at line \(mark.line)"
        default:
            return "\(error)".split(separator: "\n").first.map(String.init) ?? "syntax error"
        }
    }
}

/// One YAML mapping being read strictly: unknown and duplicate keys are rejected up front.
struct Mapping {
    let entries: [(key: String, keyMark: Mark?, value: Node)]
    let path: String
    let origin: String
    let mark: Mark?

    init(_ node: Node, path: String, origin: String, allowed: Set<String>) throws {
        let name = path.isEmpty ? "the file" : "key '\(path.dropLast())'"
        guard case .mapping(let mapping) = node else {
            throw ConfigParser.fail(origin, node.mark, "\(name) must be a mapping of keys",
                                    hint: "write 'key: value' lines, indented under it")
        }
        var seen = Set<String>()
        var entries: [(String, Mark?, Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw ConfigParser.fail(origin, keyNode.mark, "a key in \(name) is not a plain name",
                                        hint: "keys are words like 'archive'")
            }
            let key = scalar.string
            guard allowed.contains(key) else {
                let suggestion = Mapping.closest(to: key, in: allowed)
                throw ConfigParser.fail(origin, keyNode.mark, "unknown key '\(path)\(key)'",
                                        hint: suggestion.map { "did you mean '\(path)\($0)'?" }
                                            ?? "allowed here: \(allowed.sorted().joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else {
                throw ConfigParser.fail(origin, keyNode.mark, "key '\(path)\(key)' appears twice",
                                        hint: "keep one of them")
            }
            entries.append((key, keyNode.mark, value))
        }
        self.entries = entries
        self.path = path
        self.origin = origin
        self.mark = node.mark
    }

    func optional(_ key: String) -> Node? {
        entries.first { $0.key == key }?.value
    }

    func required(_ key: String) throws -> Node {
        if let node = optional(key) { return node }
        throw ConfigParser.fail(origin, mark, "missing required key '\(path)\(key)'",
                                hint: "add '\(key):' here; 'ehrdata init' writes a commented sample")
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard case .scalar(let s) = node, s.tag.description != Tag.Name.null.rawValue else {
            throw typeError(node, key, "a string")
        }
        if s.style == .plain, s.string.isEmpty || s.string == "~" || s.string == "null" {
            throw typeError(node, key, "a string")
        }
        return s.string
    }

    func integer(_ node: Node, _ key: String) throws -> Int {
        guard case .scalar(let s) = node, s.style == .plain, let value = Int(s.string) else {
            throw typeError(node, key, "a whole number")
        }
        return value
    }

    func count(_ key: String) throws -> Int? {
        guard let node = optional(key) else { return nil }
        let value = try integer(node, key)
        guard value >= 0 else {
            throw ConfigParser.fail(origin, node.mark, "key '\(path)\(key)' must not be negative",
                                    hint: "use 0 to switch this rule off")
        }
        return value
    }

    private func typeError(_ node: Node, _ key: String, _ expected: String) -> EHRError {
        let found: String
        switch node {
        case .scalar(let s): found = s.string.isEmpty ? "nothing" : "'\(s.string)'"
        case .mapping: found = "a mapping"
        case .sequence: found = "a list"
        case .alias: found = "an alias"
        }
        return ConfigParser.fail(origin, node.mark, "key '\(path)\(key)' must be \(expected), found \(found)",
                                 hint: "fix the value of '\(key)'")
    }

    /// The allowed key at the smallest edit distance, if it is close enough to be a typo.
    static func closest(to key: String, in allowed: Set<String>) -> String? {
        var best: (name: String, distance: Int)?
        for name in allowed.sorted() {
            let distance = editDistance(key, name)
            if best == nil || distance < best!.distance { best = (name, distance) }
        }
        guard let best, best.distance <= Swift.max(2, key.count / 3) else { return nil }
        return best.name
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                let substitution = previous + (a[i - 1] == b[j - 1] ? 0 : 1)
                let deletion = row[j] + 1
                let insertion = row[j - 1] + 1
                row[j] = Swift.min(deletion, insertion, substitution)
                previous = current
            }
        }
        return row[b.count]
    }
}
