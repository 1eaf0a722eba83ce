/// Rules across services, declared in the config's `rules:` list (docs/CHECK.md). Parsing and
/// its strictness live in EHRConfig; this is the vocabulary `check` and `drill` work with.
public struct Rule: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Every key of `each` exists in `existsIn`.
        case keys
        /// Two counts that must agree within `tolerance`.
        case count
    }

    /// One side of a rule: a query run read-only against a configured source.
    public struct Side: Sendable, Equatable {
        public var source: String
        public var query: String
        public init(source: String, query: String) {
            self.source = source
            self.query = query
        }
    }

    public var name: String
    public var kind: Kind
    /// keys: `each`; count: `left`.
    public var first: Side
    /// keys: `exists_in`; count: `right`.
    public var second: Side
    /// count: the allowed |left - right|.
    public var tolerance: Int64

    public init(name: String, kind: Kind, first: Side, second: Side, tolerance: Int64 = 0) {
        self.name = name
        self.kind = kind
        self.first = first
        self.second = second
        self.tolerance = tolerance
    }
}

/// The `check:` keys.
public struct CheckSettings: Sendable, Equatable {
    /// Per query; nil: no limit.
    public var statementTimeout: Double?
    public init(statementTimeout: Double? = nil) { self.statementTimeout = statementTimeout }
}

/// The `drill:` keys.
public struct DrillSettings: Sendable, Equatable {
    /// A libpq connection string of the server that holds the scratch databases (default: each
    /// source's own server).
    public var connection: String?
    /// Where scratch SQLite copies go (default: the system's temp directory).
    public var scratchDirectory: String?
    public init(connection: String? = nil, scratchDirectory: String? = nil) {
        self.connection = connection
        self.scratchDirectory = scratchDirectory
    }
}
