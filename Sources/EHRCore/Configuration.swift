/// The parsed configuration file. Parsing and its strictness live in EHRConfig; this is the
/// vocabulary the engine works with.
public struct Configuration: Sendable, Equatable {
    /// Where the archive lives. Absolute after loading (relative paths resolve against the
    /// config file's directory).
    public var archive: String
    public var sources: [SourceConfig]
    public var retention: Retention
    public var compression: Compression
    /// Log format and the failure command (the unattended-operation keys).
    public var operations = Operations()
    public var metrics: MetricsConfig = .init()
    /// The file it was read from, for messages.
    public var origin: String
    /// `rules`, `check` and `drill` (Check/Rules.swift).
    public var rules: [Rule] = []
    public var check = CheckSettings()
    public var drill = DrillSettings()

    public init(archive: String, sources: [SourceConfig], retention: Retention = .init(),
                compression: Compression = .init(), origin: String) {
        self.archive = archive
        self.sources = sources
        self.retention = retention
        self.compression = compression
        self.origin = origin
    }

    public func source(named name: String) -> SourceConfig? {
        sources.first { $0.name == name }
    }

    /// Each SQLite source's database file, by source name.
    public var sqlitePaths: [String: String] {
        Dictionary(sources.compactMap { s in s.path.map { (s.name, $0) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Each PostgreSQL source's connection string, by source name.
    public var connections: [String: String] {
        Dictionary(sources.compactMap { s in s.connection.map { (s.name, $0) } }, uniquingKeysWith: { a, _ in a })
    }
}

public struct SourceConfig: Sendable, Equatable {
    public var name: String
    public var kind: SourceKind
    /// SQLite: the database file.
    public var path: String?
    /// PostgreSQL: a libpq connection string or URI. Passwords belong in PGPASSWORD/.pgpass.
    public var connection: String?
    /// The path as the file wrote it, before it was made absolute (for `config check`).
    public var pathAsWritten: String?
    /// PostgreSQL: how often a transient failure restarts the source under a new snapshot.
    public var retries: Int = 3
    /// PostgreSQL: a table whose row count fell by more than this percent since the previous
    /// snapshot makes the backup warn (and exit 84).
    public var rowDropWarning: Int = 50

    public init(name: String, kind: SourceKind, path: String? = nil, connection: String? = nil,
                pathAsWritten: String? = nil) {
        self.name = name
        self.kind = kind
        self.path = path
        self.connection = connection
        self.pathAsWritten = pathAsWritten ?? path
    }

    /// Source names become file names inside the archive, so they are restricted.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64 else { return false }
        let allowed = { (c: UInt8) in
            (97...122).contains(c) || (65...90).contains(c) || (48...57).contains(c)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
        }
        return allowed(first) && first != UInt8(ascii: "-") && name.utf8.allSatisfy(allowed)
    }
}

/// Retention policy, applied by `prune` (Retention.swift has the rules). Nil or 0: this rule
/// keeps nothing by itself.
public struct Retention: Sendable, Equatable {
    public var keepLast: Int?
    public var keepHourly: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    /// Keep every snapshot started within this long before the newest one.
    public var keepWithin: RetentionWithin?
    /// The IANA zone whose hours, days, weeks, months and years the buckets follow; nil: the host's.
    public var timeZone: String?

    public init(keepLast: Int? = nil, keepHourly: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil,
                keepMonthly: Int? = nil, keepYearly: Int? = nil, keepWithin: RetentionWithin? = nil,
                timeZone: String? = nil) {
        self.keepLast = keepLast
        self.keepHourly = keepHourly
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.keepWithin = keepWithin
        self.timeZone = timeZone
    }
}

/// `metrics:` in the config.
public struct MetricsConfig: Sendable, Equatable {
    /// Rewritten (atomically) by every command that changes or checks the archive.
    public var textfile: String?
    public init(textfile: String? = nil) { self.textfile = textfile }
}

public struct Compression: Sendable, Equatable {
    public var codec: Codec
    /// gzip 1-9 (6 is gzip's default); zstd 1-19 (3 is zstd's default).
    public var level: Int
    public init(codec: Codec = .gzip, level: Int? = nil) {
        self.codec = codec
        self.level = level ?? codec.defaultLevel
    }
}
