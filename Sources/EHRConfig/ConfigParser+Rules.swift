import EHRCore
import Yams

/// The `rules`, `check` and `drill` keys (docs/CONFIGURATION.md), read as strictly as the rest:
/// unknown keys, a source that is not configured, an empty query are errors naming the line.
extension ConfigParser {
    static func parseCheckKeys(_ top: Mapping, into configuration: inout Configuration, base: String) throws {
        let origin = top.origin
        if let node = top.optional("rules") {
            guard case .sequence(let list) = node else {
                throw fail(origin, node.mark, "key 'rules' must be a list of rules", hint: "write each rule as '- name: …'")
            }
            for (index, item) in list.enumerated() {
                let rule = try parseRule(item, index: index, origin: origin, sources: configuration.sources)
                if configuration.rules.contains(where: { $0.name == rule.name }) {
                    throw fail(origin, item.mark, "rule name '\(rule.name)' is used twice", hint: "give every rule its own name")
                }
                configuration.rules.append(rule)
            }
        }
        if let node = top.optional("check") {
            let m = try Mapping(node, path: "check.", origin: origin, allowed: ["statement_timeout"])
            if let timeout = m.optional("statement_timeout") {
                configuration.check.statementTimeout = try duration(m, timeout, "statement_timeout")
            }
        }
        if let node = top.optional("drill") {
            let m = try Mapping(node, path: "drill.", origin: origin, allowed: ["connection", "scratch_dir"])
            if let c = m.optional("connection") { configuration.drill.connection = try m.string(c, "connection") }
            if let d = m.optional("scratch_dir") { configuration.drill.scratchDirectory = absolute(try m.string(d, "scratch_dir"), base: base) }
        }
    }

    private static func duration(_ m: Mapping, _ node: Node, _ key: String) throws -> Double {
        let text = try m.string(node, key)
        guard let seconds = DurationText.seconds(text), seconds > 0 else {
            throw fail(m.origin, node.mark, "key '\(m.path)\(key)' is '\(text)', not a duration",
                       hint: "write a duration such as 30s, 5m or 1h")
        }
        return seconds
    }

    private static func parseRule(_ node: Node, index: Int, origin: String, sources: [SourceConfig]) throws -> Rule {
        let path = "rules[\(index)]."
        let m = try Mapping(node, path: path, origin: origin,
                            allowed: ["name", "kind", "each", "exists_in", "left", "right", "tolerance"])
        let nameNode = try m.required("name")
        let name = try m.string(nameNode, "name")
        guard SourceConfig.isValidName(name) else {
            throw fail(origin, nameNode.mark, "rule name '\(name)' is not allowed",
                       hint: "use letters, digits, '-' and '_' (up to 64), starting with a letter or digit")
        }
        let kindNode = try m.required("kind")
        let kindText = try m.string(kindNode, "kind")
        guard let kind = Rule.Kind(rawValue: kindText) else {
            throw fail(origin, kindNode.mark, "key '\(path)kind' is '\(kindText)'", hint: "use 'keys' or 'count'")
        }
        let (firstKey, secondKey, others) = kind == .keys ? ("each", "exists_in", ["left", "right", "tolerance"])
                                                          : ("left", "right", ["each", "exists_in"])
        for key in others {
            if let extra = m.optional(key) {
                throw fail(origin, extra.mark, "key '\(path)\(key)' is not for a \(kind.rawValue) rule",
                           hint: kind == .keys ? "a keys rule takes 'each' and 'exists_in'" : "a count rule takes 'left', 'right' and 'tolerance'")
            }
        }
        let first = try side(m, firstKey, origin: origin, sources: sources)
        let second = try side(m, secondKey, origin: origin, sources: sources)
        let tolerance = try m.count("tolerance") ?? 0
        return Rule(name: name, kind: kind, first: first, second: second, tolerance: Int64(tolerance))
    }

    private static func side(_ rule: Mapping, _ key: String, origin: String, sources: [SourceConfig]) throws -> Rule.Side {
        let node = try rule.required(key)
        let m = try Mapping(node, path: rule.path + key + ".", origin: origin, allowed: ["source", "query"])
        let sourceNode = try m.required("source")
        let source = try m.string(sourceNode, "source")
        guard sources.contains(where: { $0.name == source }) else {
            throw fail(origin, sourceNode.mark, "key '\(m.path)source' names '\(source)', which is not a configured source",
                       hint: "use one of: \(sources.map(\.name).joined(separator: ", "))")
        }
        let queryNode = try m.required("query")
        let query = try m.string(queryNode, "query")
        guard !KeySQL.trimmed(query).isEmpty else {
            throw fail(origin, queryNode.mark, "key '\(m.path)query' is empty", hint: "write the SELECT that gives the keys or the count")
        }
        return Rule.Side(source: source, query: query)
    }
}
