/// The PostgreSQL type a column gets, and how each SQLite value becomes a value of it.
public enum TargetType: Equatable, Sendable, Codable {
    case bigint, integer, smallint
    case doublePrecision
    case numeric(precision: Int?, scale: Int?)
    case boolean
    case date, timestamp, timestamptz, time
    case varchar(Int)
    case text
    case bytea

    public var sql: String {
        switch self {
        case .bigint: "bigint"
        case .integer: "integer"
        case .smallint: "smallint"
        case .doublePrecision: "double precision"
        case .numeric(let p?, let s?): "numeric(\(p),\(s))"
        case .numeric: "numeric"
        case .boolean: "boolean"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .time: "time"
        case .varchar(let n): "varchar(\(n))"
        case .text: "text"
        case .bytea: "bytea"
        }
    }
}

/// How the dates of a temporal column are read (the column-wide choices).
public struct TemporalRule: Equatable, Sendable {
    public var slashOrder: TemporalText.SlashOrder?
    /// Integers are epochs in milliseconds (else seconds), when they are not YYYYMMDD dates.
    public var epochMilliseconds = false
    public var compactDates = false
    public init() {}
}

/// One column's translation: the type, the reason, and what the report must say about it.
public struct ColumnDecision: Sendable {
    public var type: TargetType
    public var identity = false
    public var temporal = TemporalRule()
    /// Why this type, in a few words.
    public var reason: String
    public var warnings: [String] = []
    /// The declared type does not hold the values: what is wrong, with counts and first row.
    public var mismatch: String?
    /// When widened: the type the declared type alone would have given.
    public var strictType: TargetType?

    public init(type: TargetType, reason: String) {
        self.type = type
        self.reason = reason
    }
}

/// What to do with values the declared type does not hold.
public enum MismatchPolicy: String, Sendable, Codable, CaseIterable {
    case stop, widen, reject
}
