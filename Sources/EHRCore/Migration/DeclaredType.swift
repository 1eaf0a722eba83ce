/// A SQLite column's declared type, read the way migrate maps it. SQLite itself only derives an
/// affinity from the name; migrate also reads the conventional names (BOOLEAN, DATE, VARCHAR(n),
/// DECIMAL(p,s)) because applications write them meaning those types.
public enum DeclaredType: Equatable, Sendable {
    case integer(IntegerWidth)
    case real
    /// NUMERIC or DECIMAL, with (precision, scale) when written.
    case numeric(precision: Int?, scale: Int?)
    case boolean
    case date
    case dateTime
    case time
    /// VARCHAR(n) and its spellings; CHAR(n) is `.character(n)`.
    case varchar(Int)
    case character(Int)
    case text
    case blob
    /// No declared type.
    case none
    /// A name migrate does not map (JSON, UUID, STRING…): the values decide.
    case unknown

    public enum IntegerWidth: Sendable { case small, regular, big }

    public init(_ declared: String) {
        let upper = declared.uppercased().trimmingCharacters(in: " ")
        let (base, args) = Self.split(upper)
        switch base {
        case "": self = .none
        case "INTEGER", "BIGINT", "INT8", "UNSIGNED BIG INT": self = .integer(.big)
        case "INT", "INT4", "MEDIUMINT": self = .integer(.regular)
        case "SMALLINT", "INT2", "TINYINT": self = .integer(.small)
        case "REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT8": self = .real
        case "NUMERIC", "DECIMAL":
            self = .numeric(precision: args.first, scale: args.count > 1 ? args[1] : (args.isEmpty ? nil : 0))
        case "BOOLEAN", "BOOL": self = .boolean
        case "DATE": self = .date
        case "DATETIME", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE": self = .dateTime
        case "TIME": self = .time
        case "VARCHAR", "CHARACTER VARYING", "VARYING CHARACTER", "NVARCHAR", "NATIVE CHARACTER VARYING":
            self = args.first.map { .varchar($0) } ?? .text
        case "CHAR", "CHARACTER", "NCHAR", "NATIVE CHARACTER":
            self = args.first.map { .character($0) } ?? .character(1)
        case "TEXT", "CLOB", "STRING_TEXT": self = .text
        case "BLOB": self = .blob
        default: self = .unknown
        }
    }

    /// "DECIMAL(10, 2)" → ("DECIMAL", [10, 2]).
    private static func split(_ text: String) -> (String, [Int]) {
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else {
            return (text.split(separator: " ").joined(separator: " "), [])
        }
        let base = text[..<open].split(separator: " ").joined(separator: " ")
        let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
        let numbers = inner.split(separator: ",").map { $0.trimmingCharacters(in: " ") }
        let values = numbers.compactMap { Int($0) }
        return values.count == numbers.count && values.allSatisfy({ $0 >= 0 }) ? (base, values) : (base, [])
    }

    public var isTemporal: Bool { self == .date || self == .dateTime || self == .time }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s.removeFirst() }
        while s.last == character { s.removeLast() }
        return String(s)
    }
}

extension Substring {
    func trimmingCharacters(in character: Character) -> String { String(self).trimmingCharacters(in: character) }
}
