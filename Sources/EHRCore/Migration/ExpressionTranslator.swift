/// A SQLite expression in PostgreSQL, token by token, admitting only what means the same in both:
/// column references, literals, comparison and arithmetic that cannot divide by zero, CASE, CAST,
/// and a few functions with an exact equivalent. Anything else is refused with the reason; the
/// caller then keeps SQLite's values and reports it. Whatever is translated is still checked
/// against the data by the caller (PostgreSQL's result on every row must equal SQLite's), since
/// SQLite's dynamic typing can make the same text mean something else.
public struct ExpressionTranslator {
    public struct Untranslatable: Error, Equatable, Sendable {
        public let reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// SQLite column name, lowercased (SQLite's names are case-insensitive) → PostgreSQL reference.
    private let columns: [String: String]

    public init(columns: [String: String]) {
        self.columns = Dictionary(columns.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    public func translate(_ sql: String) throws(Untranslatable) -> String {
        do {
            return try translate(try SQLTokenizer.tokens(sql))
        } catch let error as SQLTokenizer.Unreadable {
            throw Untranslatable(reason: error.reason)
        } catch let error as Untranslatable {
            throw error
        } catch {
            throw Untranslatable(reason: "\(error)")
        }
    }

    public func translate(_ tokens: [SQLToken]) throws(Untranslatable) -> String {
        guard !tokens.isEmpty else { throw Untranslatable(reason: "the expression is empty") }
        var out: [String] = []
        var i = 0
        while i < tokens.count {
            let token = tokens[i]
            let next = i + 1 < tokens.count ? tokens[i + 1] : nil
            switch token.kind {
            case .word where next?.isSymbol("(") == true && !Self.keywords.contains(token.text.uppercased()):
                guard let inner = SQLiteTableSQL.parenthesized(tokens, at: i + 1) else {
                    throw Untranslatable(reason: "a parenthesis is not closed")
                }
                out.append(try function(token.text, inner))
                i += inner.count + 3
                continue
            case .word:
                let upper = token.text.uppercased()
                if upper == "IS" {
                    // SQLite's IS compares any two values, NULLs included.
                    let negated = next?.isWord("NOT") == true
                    let after = negated ? i + 2 : i + 1
                    if after < tokens.count, tokens[after].isWord("NULL") {
                        out.append(negated ? "IS NOT" : "IS")
                    } else {
                        out.append(negated ? "IS DISTINCT FROM" : "IS NOT DISTINCT FROM")
                    }
                    i = after
                    continue
                }
                if Self.keywords.contains(upper) {
                    out.append(upper)
                } else if let column = columns[token.text.lowercased()] {
                    out.append(column)
                } else {
                    throw Untranslatable(reason: "\(upper) has no PostgreSQL equivalent here")
                }
            case .quoted:
                // SQLite reads a double-quoted word that names no column as a string; PostgreSQL never does.
                guard let column = columns[token.text.lowercased()] else {
                    throw Untranslatable(reason: "a quoted name that is no column of the table")
                }
                out.append(column)
            case .string:
                out.append(Self.literal(token.text))
            case .blob:
                out.append("'\\x\(token.text)'::bytea")
            case .number:
                let lower = token.text.lowercased()
                guard !lower.hasPrefix("0x") else { throw Untranslatable(reason: "a hexadecimal number") }
                // SQLite reads 1.5 and 1e3 as 8-byte floats; PostgreSQL would read numeric.
                out.append(lower.contains(".") || lower.contains("e") ? "\(token.text)::double precision" : token.text)
            case .symbol:
                switch token.text {
                case "==": out.append("=")
                case "/":
                    // SQLite gives NULL for a zero divisor, PostgreSQL an error: only a constant one.
                    guard let next, next.kind == .number, let value = Double(next.text), value != 0 else {
                        throw Untranslatable(reason: "division by something that may be zero (SQLite gives NULL, PostgreSQL an error)")
                    }
                    out.append("/")
                case "||", "=", "!=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "(", ")", ",", "&", "|", "<<", ">>", "~":
                    out.append(token.text)
                default:
                    throw Untranslatable(reason: "the operator \(token.text) has no PostgreSQL equivalent")
                }
            case .variable:
                throw Untranslatable(reason: "a parameter")
            }
            i += 1
        }
        return out.joined(separator: " ")
    }

    static let keywords: Set<String> = ["AND", "OR", "NOT", "NULL", "CASE", "WHEN", "THEN", "ELSE", "END", "BETWEEN", "IN"]

    /// SQLite's lower() and upper() change ASCII letters only (without ICU): so does this.
    static let ascii = ("'ABCDEFGHIJKLMNOPQRSTUVWXYZ'", "'abcdefghijklmnopqrstuvwxyz'")

    private func function(_ name: String, _ inner: [SQLToken]) throws(Untranslatable) -> String {
        let upper = name.uppercased()
        if upper == "CAST" {
            guard let at = inner.lastIndex(where: { $0.isWord("AS") }), at > 0 else {
                throw Untranslatable(reason: "a CAST without AS")
            }
            let type = inner[(at + 1)...].map(\.text).joined(separator: " ")
            let target = Self.castType(type)
            return "CAST(\(try translate(Array(inner[..<at]))) AS \(target))"
        }
        let arguments = inner.isEmpty ? "" : try translate(inner)
        switch upper {
        case "LOWER": return "translate(\(arguments), \(Self.ascii.0), \(Self.ascii.1))"
        case "UPPER": return "translate(\(arguments), \(Self.ascii.1), \(Self.ascii.0))"
        case "IFNULL": return "coalesce(\(arguments))"
        case "TRIM": return "btrim(\(arguments))"
        case "ABS", "COALESCE", "NULLIF", "LTRIM", "RTRIM", "REPLACE", "LENGTH": return "\(upper.lowercased())(\(arguments))"
        default: throw Untranslatable(reason: "the function \(name.lowercased())() has no exact PostgreSQL equivalent")
        }
    }

    /// What SQLite's CAST produces, by its affinity rules for the type's name (in their order).
    static func castType(_ name: String) -> String {
        let upper = name.uppercased()
        if upper.contains("INT") { return "bigint" }
        if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") { return "text" }
        if upper.contains("BLOB") || upper.isEmpty { return "bytea" }
        if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") { return "double precision" }
        return "numeric"
    }

    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
}
