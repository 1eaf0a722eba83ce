/// SQLite's SQL as tokens, the way SQLite's own tokenizer (tokenize.c) splits it: enough to find
/// a column's generated expression in a `CREATE TABLE` and to translate expressions token by
/// token. Comments and blanks are dropped.
public struct SQLToken: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// A bare word: a keyword, a function or a column name. `text` as written.
        case word
        /// `"name"`, `[name]` or `` `name` ``: `text` is the name, unquoted.
        case quoted
        /// `'text'`: `text` is the value, unquoted.
        case string
        /// `X'…'`: `text` is the hex digits.
        case blob
        /// `text` as written.
        case number
        /// Operators and punctuation, `text` as written (`||`, `<=`, `(`, …).
        case symbol
        /// `?`, `?1`, `:name`, `@name`, `$name`.
        case variable
    }

    public var kind: Kind
    public var text: String

    public init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    /// The token as SQLite would read it again.
    public var sql: String {
        switch kind {
        case .quoted: "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        case .string: "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        case .blob: "X'\(text)'"
        case .word, .number, .symbol, .variable: text
        }
    }

    public static func sql(_ tokens: [SQLToken]) -> String { tokens.map(\.sql).joined(separator: " ") }

    public func isWord(_ keyword: String) -> Bool { kind == .word && text.uppercased() == keyword }
    public func isSymbol(_ symbol: String) -> Bool { kind == .symbol && text == symbol }
}

public enum SQLTokenizer {
    public struct Unreadable: Error, Equatable, Sendable {
        public let reason: String
    }

    public static func tokens(_ sql: String) throws(Unreadable) -> [SQLToken] {
        let s = Array(sql.unicodeScalars)
        var out: [SQLToken] = []
        var i = 0
        func text(_ range: Range<Int>) -> String {
            var t = ""
            t.unicodeScalars.append(contentsOf: s[range])
            return t
        }
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if c == "-", i + 1 < s.count, s[i + 1] == "-" {
                while i < s.count, s[i] != "\n" { i += 1 }
                continue
            }
            if c == "/", i + 1 < s.count, s[i + 1] == "*" {
                i += 2
                while i < s.count, !(s[i] == "*" && i + 1 < s.count && s[i + 1] == "/") { i += 1 }
                i = min(s.count, i + 2)
                continue
            }
            if c == "x" || c == "X", i + 1 < s.count, s[i + 1] == "'" {
                guard let end = s[(i + 2)...].firstIndex(of: "'") else { throw Unreadable(reason: "a blob literal is not closed") }
                out.append(SQLToken(.blob, text(i + 2..<end)))
                i = end + 1
                continue
            }
            switch c {
            case "'", "\"", "`":
                // Quoted by doubling the quote inside.
                var value = "", j = i + 1, closed = false
                while j < s.count {
                    if s[j] == c {
                        if j + 1 < s.count, s[j + 1] == c { value.unicodeScalars.append(c); j += 2; continue }
                        closed = true
                        break
                    }
                    value.unicodeScalars.append(s[j])
                    j += 1
                }
                guard closed else { throw Unreadable(reason: "a quote is not closed") }
                out.append(SQLToken(c == "'" ? .string : .quoted, value))
                i = j + 1
            case "[":
                guard let end = s[i...].firstIndex(of: "]") else { throw Unreadable(reason: "a [ is not closed") }
                out.append(SQLToken(.quoted, text(i + 1..<end)))
                i = end + 1
            case "0"..."9", ".":
                if c == ".", !(i + 1 < s.count && ("0"..."9").contains(s[i + 1])) {
                    out.append(SQLToken(.symbol, "."))
                    i += 1
                    continue
                }
                var j = i
                while j < s.count, s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) || s[j] == "." || s[j] == "_"
                    || ((s[j] == "+" || s[j] == "-") && j > i && (s[j - 1] == "e" || s[j - 1] == "E") && !text(i..<j).lowercased().hasPrefix("0x")) {
                    j += 1
                }
                out.append(SQLToken(.number, text(i..<j)))
                i = j
            case "?", ":", "@", "$":
                var j = i + 1
                while j < s.count, s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) || s[j] == "_" { j += 1 }
                out.append(SQLToken(.variable, text(i..<j)))
                i = j
            default:
                if c.properties.isAlphabetic || c == "_" || c.value >= 0x80 {
                    var j = i
                    while j < s.count, s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) || s[j] == "_" || s[j] == "$" || s[j].value >= 0x80 {
                        j += 1
                    }
                    out.append(SQLToken(.word, text(i..<j)))
                    i = j
                    continue
                }
                let two = i + 1 < s.count ? text(i..<i + 2) : ""
                if ["||", "<=", ">=", "==", "!=", "<>", "<<", ">>", "->"].contains(two) {
                    out.append(SQLToken(.symbol, two))
                    i += 2
                } else {
                    out.append(SQLToken(.symbol, String(c)))
                    i += 1
                }
            }
        }
        return out
    }
}

/// Parts of a `CREATE TABLE` statement's text.
public enum SQLiteTableSQL {
    /// Each generated column's expression (the tokens inside `AS ( … )`), by column name as
    /// written; empty when the text cannot be read.
    public static func generatedExpressions(_ createTable: String) -> [String: [SQLToken]] {
        guard let tokens = try? SQLTokenizer.tokens(createTable),
              let open = tokens.firstIndex(where: { $0.isSymbol("(") }) else { return [:] }
        var found: [String: [SQLToken]] = [:]
        for definition in topLevelItems(tokens, from: open + 1) {
            guard let first = definition.first, first.kind != .symbol,
                  !["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"].contains(first.kind == .word ? first.text.uppercased() : "") else { continue }
            var depth = 0
            for (k, token) in definition.enumerated() {
                if token.isSymbol("(") { depth += 1 }
                if token.isSymbol(")") { depth -= 1 }
                guard depth == 0, token.isWord("AS"), k + 1 < definition.count, definition[k + 1].isSymbol("(") else { continue }
                if let inner = parenthesized(definition, at: k + 1) { found[first.text] = inner }
                break
            }
        }
        return found
    }

    /// The items of the list that starts after an opening parenthesis at `start`, split at
    /// commas of that level, up to its closing parenthesis.
    public static func topLevelItems(_ tokens: [SQLToken], from start: Int) -> [[SQLToken]] {
        var items: [[SQLToken]] = [[]]
        var depth = 0
        for token in tokens[start...] {
            if token.isSymbol("(") { depth += 1 }
            if token.isSymbol(")") {
                if depth == 0 { break }
                depth -= 1
            }
            if depth == 0, token.isSymbol(",") { items.append([]); continue }
            items[items.count - 1].append(token)
        }
        return items.filter { !$0.isEmpty }
    }

    /// The tokens between the parenthesis at `open` and its match.
    public static func parenthesized(_ tokens: [SQLToken], at open: Int) -> [SQLToken]? {
        var depth = 0
        for k in open..<tokens.count {
            if tokens[k].isSymbol("(") { depth += 1 }
            if tokens[k].isSymbol(")") {
                depth -= 1
                if depth == 0 { return Array(tokens[(open + 1)..<k]) }
            }
        }
        return nil
    }
}

extension SQLiteTableSQL {
    /// The items of a `CREATE TABLE`'s column and constraint list.
    static func items(_ createTable: String) -> [[SQLToken]] {
        guard let tokens = try? SQLTokenizer.tokens(createTable),
              let open = tokens.firstIndex(where: { $0.isSymbol("(") }) else { return [] }
        return topLevelItems(tokens, from: open + 1)
    }

    static let constraintWords: Set<String> = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]

    static func isColumnDefinition(_ item: [SQLToken]) -> Bool {
        guard let first = item.first, first.kind != .symbol else { return false }
        return !(first.kind == .word && constraintWords.contains(first.text.uppercased()))
    }

    /// Every CHECK constraint, column-level and table-level, in order: its name when it has one
    /// (`CONSTRAINT name CHECK (…)`), and the expression's tokens.
    public static func checks(_ createTable: String) -> [(name: String?, expression: [SQLToken])] {
        var found: [(String?, [SQLToken])] = []
        for item in items(createTable) {
            var depth = 0
            for (k, token) in item.enumerated() {
                if token.isSymbol("(") { depth += 1 }
                if token.isSymbol(")") { depth -= 1 }
                guard depth == 0, token.isWord("CHECK"), k + 1 < item.count, item[k + 1].isSymbol("("),
                      let inner = parenthesized(item, at: k + 1) else { continue }
                let name = k >= 2 && item[k - 2].isWord("CONSTRAINT") ? item[k - 1].text : nil
                found.append((name, inner))
            }
        }
        return found
    }

    /// The columns declared `COLLATE NOCASE`, by name as written.
    public static func nocaseColumns(_ createTable: String) -> Set<String> {
        var found: Set<String> = []
        for item in items(createTable) where isColumnDefinition(item) {
            var depth = 0
            for (k, token) in item.enumerated() {
                if token.isSymbol("(") { depth += 1 }
                if token.isSymbol(")") { depth -= 1 }
                if depth == 0, token.isWord("COLLATE"), k + 1 < item.count, item[k + 1].text.uppercased() == "NOCASE" {
                    found.insert(item[0].text)
                }
            }
        }
        return found
    }

    /// For each foreign key clause in declaration order (SQLite's `foreign_key_list` ids count
    /// backwards from it), whether it is `DEFERRABLE INITIALLY DEFERRED`: the only form SQLite
    /// actually defers.
    public static func deferredForeignKeys(_ createTable: String) -> [Bool] {
        var found: [Bool] = []
        for item in items(createTable) {
            var depth = 0
            var clause: [SQLToken]?
            func close() {
                guard let c = clause else { return }
                let words = c.map { $0.kind == .word ? $0.text.uppercased() : $0.text }
                let deferrable = zip(words.indices, words).contains { $0.1 == "DEFERRABLE" && ($0.0 == 0 || words[$0.0 - 1] != "NOT") }
                let deferred = zip(words, words.dropFirst()).contains { $0 == "INITIALLY" && $1 == "DEFERRED" }
                found.append(deferrable && deferred)
                clause = nil
            }
            for token in item {
                if token.isSymbol("(") { depth += 1 }
                if token.isSymbol(")") { depth -= 1 }
                if depth == 0, token.isWord("REFERENCES") { close(); clause = [] ; continue }
                if depth == 0, clause != nil, token.kind == .word,
                   ["CONSTRAINT", "CHECK", "DEFAULT", "UNIQUE", "PRIMARY", "COLLATE", "GENERATED", "AS"].contains(token.text.uppercased()) {
                    close()
                }
                clause?.append(token)
            }
            close()
        }
        return found
    }

    /// A `CREATE [UNIQUE] INDEX … ON table (parts) [WHERE …]`'s parts and WHERE clause.
    public static func indexParts(_ createIndex: String) -> (parts: [[SQLToken]], filter: [SQLToken]?)? {
        guard let tokens = try? SQLTokenizer.tokens(createIndex),
              let on = tokens.firstIndex(where: { $0.isWord("ON") }),
              let open = tokens[on...].firstIndex(where: { $0.isSymbol("(") }),
              let inner = parenthesized(tokens, at: open) else { return nil }
        let parts = topLevelItems([SQLToken(.symbol, "(")] + inner + [SQLToken(.symbol, ")")], from: 1)
        let after = open + inner.count + 2
        let filter = after < tokens.count && tokens[after].isWord("WHERE") ? Array(tokens[(after + 1)...]) : nil
        return (parts, filter)
    }

    /// A `CREATE VIEW name [(columns)] AS select`'s column names and SELECT.
    public static func viewQuery(_ createView: String) -> (columns: [String], select: [SQLToken])? {
        guard let tokens = try? SQLTokenizer.tokens(createView),
              let view = tokens.firstIndex(where: { $0.isWord("VIEW") }) else { return nil }
        var k = view + 1
        if k + 2 < tokens.count, tokens[k].isWord("IF"), tokens[k + 1].isWord("NOT"), tokens[k + 2].isWord("EXISTS") { k += 3 }
        k += 1 // the name
        if k + 1 < tokens.count, tokens[k].isSymbol("."), true { k += 2 } // schema.name
        var columns: [String] = []
        if k < tokens.count, tokens[k].isSymbol("("), let inner = parenthesized(tokens, at: k) {
            columns = inner.filter { $0.kind != .symbol }.map(\.text)
            k += inner.count + 2
        }
        guard k < tokens.count, tokens[k].isWord("AS") else { return nil }
        return (columns, Array(tokens[(k + 1)...]))
    }
}
