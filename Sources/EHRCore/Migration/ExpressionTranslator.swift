/// SQLite expressions and view queries in PostgreSQL, token by token, admitting only what means
/// the same in both: column references, literals, comparison and arithmetic that cannot divide
/// by zero, CASE, CAST, LIKE (ASCII case folding and no escape character, as SQLite's), a few
/// functions with an exact equivalent, and for views SELECT with joins, grouping and ordering.
/// Anything else is refused with the reason; the caller then keeps SQLite's values or lists the
/// object. Whatever is translated is still checked by the caller against the data or by
/// PostgreSQL itself, since SQLite's dynamic typing can make the same text mean something else.
public struct ExpressionTranslator {
    public struct Untranslatable: Error, Equatable, Sendable {
        public let reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// A column as PostgreSQL names it, and whether its type is text (SQLite compares a text
    /// column with a number as text: the number is quoted then).
    public struct Column: Sendable {
        public var sql: String
        public var isText: Bool
        public init(sql: String, isText: Bool) {
            self.sql = sql
            self.isText = isText
        }
    }

    /// A table a query may name: its qualified PostgreSQL name and columns by SQLite name.
    public struct Table: Sendable {
        public var sql: String
        public var columns: [String: Column]
        public init(sql: String, columns: [String: Column]) {
            self.sql = sql
            self.columns = Dictionary(columns.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Bare column names in scope (an expression on one table), lowercased: SQLite's names are
    /// case-insensitive.
    private let columns: [String: Column]
    /// Tables by lowercased SQLite name (queries only).
    private let tables: [String: Table]

    public init(columns: [String: Column]) {
        self.columns = Dictionary(columns.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        tables = [:]
    }

    public init(columns: [String: String]) {
        self.init(columns: columns.mapValues { Column(sql: $0, isText: false) })
    }

    /// For view queries: every table the query may name.
    public init(tables: [String: Table]) {
        columns = [:]
        self.tables = Dictionary(tables.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    public func translate(_ sql: String) throws(Untranslatable) -> String {
        let tokens: [SQLToken]
        do { tokens = try SQLTokenizer.tokens(sql) } catch { throw Untranslatable(reason: error.reason) }
        return try translate(tokens)
    }

    public func translate(_ tokens: [SQLToken]) throws(Untranslatable) -> String {
        guard !tokens.isEmpty else { throw Untranslatable(reason: "the expression is empty") }
        var state = State(aliases: tables.isEmpty ? [:] : try Self.aliases(tokens, tables: tables))
        try translate(tokens, into: &state)
        return state.out.map(\.text).joined(separator: " ")
    }

    /// What has been emitted, with enough of its kind to quote a number compared with text.
    struct Item {
        enum Kind { case textColumn, number, comparison, other }
        var text: String
        var kind: Kind
    }

    struct State {
        /// Lowercased alias → the table it stands for.
        var aliases: [String: Table]
        var out: [Item] = []
        var inFrom = false
        var afterAs = false

        mutating func emit(_ text: String, _ kind: Item.Kind = .other) {
            // SQLite compares a TEXT column with a number as text: `active = 1` matches '1'.
            if kind == .number, out.count >= 2, out[out.count - 1].kind == .comparison, out[out.count - 2].kind == .textColumn {
                out.append(Item(text: ExpressionTranslator.literal(text), kind: .other))
                return
            }
            if kind == .textColumn, out.count >= 2, out[out.count - 1].kind == .comparison, out[out.count - 2].kind == .number {
                out[out.count - 2].text = ExpressionTranslator.literal(out[out.count - 2].text)
            }
            out.append(Item(text: text, kind: kind))
        }
    }

    private func translate(_ tokens: [SQLToken], into state: inout State) throws(Untranslatable) {
        var i = 0
        while i < tokens.count {
            let token = tokens[i]
            let next = i + 1 < tokens.count ? tokens[i + 1] : nil
            let upper = token.kind == .word ? token.text.uppercased() : ""
            switch token.kind {
            case .word where next?.isSymbol("(") == true && !Self.keywords.contains(upper) && !Self.queryKeywords.contains(upper):
                guard let inner = SQLiteTableSQL.parenthesized(tokens, at: i + 1) else {
                    throw Untranslatable(reason: "a parenthesis is not closed")
                }
                state.emit(try function(token.text, inner, aliases: state.aliases))
                i += inner.count + 3
                continue
            case .word where upper == "IS":
                // SQLite's IS compares any two values, NULLs included.
                let negated = next?.isWord("NOT") == true
                let after = negated ? i + 2 : i + 1
                if after < tokens.count, tokens[after].isWord("NULL") {
                    state.emit(negated ? "IS NOT" : "IS")
                } else {
                    state.emit(negated ? "IS DISTINCT FROM" : "IS NOT DISTINCT FROM", .comparison)
                }
                i = after
                continue
            case .word where upper == "LIKE":
                // SQLite's LIKE folds ASCII letters only and has no escape character.
                guard let column = state.out.lastIndex(where: { $0.kind == .textColumn }),
                      column == state.out.count - 1 || (column == state.out.count - 2 && state.out.last?.text == "NOT"),
                      let next, next.kind == .string else {
                    throw Untranslatable(reason: "LIKE other than a text column against a constant pattern")
                }
                state.out[column].text = "translate(\(state.out[column].text), \(Self.ascii.0), \(Self.ascii.1))"
                state.out[column].kind = .other
                state.emit("LIKE \(Self.literal(Self.asciiLowercased(next.text))) ESCAPE ''")
                i += 2
                continue
            case .word where Self.keywords.contains(upper):
                state.emit(upper)
            case .word where !tables.isEmpty && Self.queryKeywords.contains(upper):
                state.inFrom = ["FROM", "JOIN"].contains(upper) || (state.inFrom && ["INNER", "LEFT", "CROSS", "OUTER"].contains(upper))
                state.afterAs = upper == "AS"
                state.emit(upper)
                i += 1
                continue
            case .word, .quoted:
                try name(tokens, &i, &state)
                continue
            case .string:
                state.emit(Self.literal(token.text))
            case .blob:
                state.emit("'\\x\(token.text)'::bytea")
            case .number:
                let lower = token.text.lowercased()
                guard !lower.hasPrefix("0x") else { throw Untranslatable(reason: "a hexadecimal number") }
                // SQLite reads 1.5 and 1e3 as 8-byte floats; PostgreSQL would read numeric.
                state.emit(lower.contains(".") || lower.contains("e") ? "\(token.text)::double precision" : token.text, .number)
            case .symbol:
                switch token.text {
                case "==": state.emit("=", .comparison)
                case "=", "!=", "<>", "<", "<=", ">", ">=": state.emit(token.text, .comparison)
                case "/":
                    // SQLite gives NULL for a zero divisor, PostgreSQL an error: only a constant one.
                    guard let next, next.kind == .number, let value = Double(next.text), value != 0 else {
                        throw Untranslatable(reason: "division by something that may be zero (SQLite gives NULL, PostgreSQL an error)")
                    }
                    state.emit("/")
                case "*" where !tables.isEmpty && (state.out.last?.text == "SELECT" || state.out.last?.text == "," || state.out.last?.text == "DISTINCT"):
                    state.emit("*")
                case "||", "+", "-", "*", "(", ")", "&", "|", "<<", ">>", "~":
                    state.emit(token.text)
                case ",":
                    state.emit(",")
                default:
                    throw Untranslatable(reason: "the operator \(token.text) has no PostgreSQL equivalent")
                }
            case .variable:
                throw Untranslatable(reason: "a parameter")
            }
            state.afterAs = false
            i += 1
        }
    }

    /// A name: a column, `alias.column`, a table in FROM, or an alias being defined.
    private func name(_ tokens: [SQLToken], _ i: inout Int, _ state: inout State) throws(Untranslatable) {
        let token = tokens[i]
        let lower = token.text.lowercased()
        defer { state.afterAs = false }
        if !tables.isEmpty {
            // alias.column or table.column
            if i + 2 < tokens.count, tokens[i + 1].isSymbol("."), tokens[i + 2].kind == .word || tokens[i + 2].kind == .quoted {
                guard let table = state.aliases[lower] else { throw Untranslatable(reason: "\(token.text) names no table of the query") }
                guard let column = table.columns[tokens[i + 2].text.lowercased()] else {
                    throw Untranslatable(reason: "\(token.text).\(tokens[i + 2].text) names no column")
                }
                state.emit(Self.aliasSQL(lower) + "." + column.sql, column.isText ? .textColumn : .other)
                i += 3
                return
            }
            if state.inFrom {
                guard let table = tables[lower], state.out.last.map({ ["FROM", "JOIN", ","].contains($0.text) }) == true else {
                    throw Untranslatable(reason: "the query reads something other than a migrated table")
                }
                // The alias the query gives it (with or without AS), else its own name.
                var alias = lower, a = i + 1
                if a < tokens.count, tokens[a].isWord("AS") { a += 1 }
                if a < tokens.count, tokens[a].kind == .word || tokens[a].kind == .quoted,
                   !Self.keywords.contains(tokens[a].text.uppercased()), !Self.queryKeywords.contains(tokens[a].text.uppercased()) {
                    alias = tokens[a].text.lowercased()
                    i = a + 1
                } else {
                    i += 1
                }
                state.emit(table.sql + " AS " + Self.aliasSQL(alias))
                return
            }
            if state.afterAs {
                // A result column's name: kept exactly as SQLite spells it.
                state.emit(Self.quoteName(token.text))
                i += 1
                return
            }
            // A bare column: it must belong to exactly one table of the query.
            let owners = state.aliases.values.compactMap { $0.columns[lower] }
            guard owners.count == 1, let column = owners.first else {
                throw Untranslatable(reason: "\(token.text) names no single column of the query's tables")
            }
            state.emit(column.sql, column.isText ? .textColumn : .other)
            i += 1
            return
        }
        // SQLite reads a double-quoted word that names no column as a string; PostgreSQL never does.
        guard let column = columns[lower] else {
            throw Untranslatable(reason: token.kind == .quoted ? "a quoted name that is no column of the table"
                                 : "\(token.text.uppercased()) has no PostgreSQL equivalent here")
        }
        state.emit(column.sql, column.isText ? .textColumn : .other)
        i += 1
    }

    /// The tables of every FROM and JOIN, by the alias (or name) the query uses for them.
    static func aliases(_ tokens: [SQLToken], tables: [String: Table]) throws(Untranslatable) -> [String: Table] {
        var found: [String: Table] = [:]
        var inFrom = false
        for (k, token) in tokens.enumerated() {
            if token.isWord("FROM") || token.isWord("JOIN") { inFrom = true } else if token.kind == .word,
                ["WHERE", "GROUP", "ORDER", "HAVING", "LIMIT", "ON", "UNION", "SELECT"].contains(token.text.uppercased()) { inFrom = false }
            guard token.isWord("FROM") || token.isWord("JOIN") || (token.isSymbol(",") && inFrom) else { continue }
            guard k + 1 < tokens.count, tokens[k + 1].kind == .word || tokens[k + 1].kind == .quoted,
                  let table = tables[tokens[k + 1].text.lowercased()] else {
                if token.isSymbol(",") { continue }
                throw Untranslatable(reason: "the query reads something other than a migrated table")
            }
            var alias = tokens[k + 1].text.lowercased()
            var a = k + 2
            if a < tokens.count, tokens[a].isWord("AS") { a += 1 }
            if a < tokens.count, tokens[a].kind == .word || tokens[a].kind == .quoted,
               !keywords.contains(tokens[a].text.uppercased()), !queryKeywords.contains(tokens[a].text.uppercased()) {
                alias = tokens[a].text.lowercased()
            }
            found[alias] = table
        }
        return found
    }

    static let keywords: Set<String> = ["AND", "OR", "NOT", "NULL", "CASE", "WHEN", "THEN", "ELSE", "END", "BETWEEN", "IN"]
    static let queryKeywords: Set<String> = [
        "SELECT", "DISTINCT", "ALL", "FROM", "WHERE", "JOIN", "INNER", "LEFT", "OUTER", "CROSS", "ON", "AS", "GROUP", "BY",
        "ORDER", "HAVING", "ASC", "DESC", "UNION", "LIMIT", "OFFSET",
    ]

    /// SQLite's lower() and upper() change ASCII letters only (without ICU): so does this.
    static let ascii = ("'ABCDEFGHIJKLMNOPQRSTUVWXYZ'", "'abcdefghijklmnopqrstuvwxyz'")

    static func asciiLowercased(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0 }))
    }

    private func function(_ name: String, _ inner: [SQLToken], aliases: [String: Table]) throws(Untranslatable) -> String {
        let upper = name.uppercased()
        func arguments(_ tokens: [SQLToken]) throws(Untranslatable) -> String {
            var state = State(aliases: aliases)
            try translate(tokens, into: &state)
            return state.out.map(\.text).joined(separator: " ")
        }
        if upper == "CAST" {
            guard let at = inner.lastIndex(where: { $0.isWord("AS") }), at > 0 else {
                throw Untranslatable(reason: "a CAST without AS")
            }
            let type = inner[(at + 1)...].map(\.text).joined(separator: " ")
            return "CAST(\(try arguments(Array(inner[..<at]))) AS \(Self.castType(type)))"
        }
        if !tables.isEmpty, ["COUNT", "SUM", "AVG", "MIN", "MAX"].contains(upper) {
            // Aggregates in a view. min() and max() with several arguments are SQLite's scalar
            // forms, whose NULL handling PostgreSQL's greatest() and least() do not share.
            let items = SQLiteTableSQL.topLevelItems([SQLToken(.symbol, "(")] + inner + [SQLToken(.symbol, ")")], from: 1)
            guard items.count <= 1 else { throw Untranslatable(reason: "\(name.lowercased())() with several arguments") }
            if upper == "COUNT", inner.count == 1, inner[0].isSymbol("*") { return "count(*)" }
            return "\(upper.lowercased())(\(try arguments(inner)))"
        }
        let text = inner.isEmpty ? "" : try arguments(inner)
        switch upper {
        case "LOWER": return "translate(\(text), \(Self.ascii.0), \(Self.ascii.1))"
        case "UPPER": return "translate(\(text), \(Self.ascii.1), \(Self.ascii.0))"
        case "IFNULL": return "coalesce(\(text))"
        case "TRIM": return "btrim(\(text))"
        case "ABS", "COALESCE", "NULLIF", "LTRIM", "RTRIM", "REPLACE", "LENGTH": return "\(upper.lowercased())(\(text))"
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

    public static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    static func quoteName(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// Table aliases are case-insensitive in SQLite: one spelling, quoted, for all their uses.
    static func aliasSQL(_ lowercased: String) -> String { quoteName(lowercased) }
}
