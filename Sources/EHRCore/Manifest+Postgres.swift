/// What the manifest records about a PostgreSQL source. See docs/ARCHIVE-FORMAT.md.
extension Manifest {
    public struct PostgresInfo: Codable, Sendable, Equatable {
        /// `SHOW server_version`, e.g. "15.18 (Debian 15.18-0+deb12u1)".
        public var serverVersion: String
        /// `server_version_num`, e.g. 150018.
        public var serverVersionNum: Int
        public var database: String
        public var encoding: String
        public var collate: String
        public var ctype: String
        /// The exported snapshot every table was copied under.
        public var snapshot: String
        /// The WAL position at the snapshot (replay position on a standby).
        public var walLSN: String
        /// pg_dump's version, which wrote the schema file.
        public var pgDumpVersion: String
        /// The session settings the COPY text was produced under; restore uses the same.
        public var copySettings: [String: String]
        public var tables: [PostgresTable]
        public var sequences: [PostgresSequence]
        public var materializedViews: [PostgresMaterializedView]
        /// The roles the database names (owners, grantees), as data; nil in snapshots taken
        /// before it was recorded. See Manifest+PostgresRoles.swift.
        public var roles: [PostgresRole]?

        public init(serverVersion: String, serverVersionNum: Int, database: String, encoding: String,
                    collate: String, ctype: String, snapshot: String, walLSN: String, pgDumpVersion: String,
                    copySettings: [String: String], tables: [PostgresTable], sequences: [PostgresSequence],
                    materializedViews: [PostgresMaterializedView], roles: [PostgresRole]? = nil) {
            self.serverVersion = serverVersion
            self.serverVersionNum = serverVersionNum
            self.database = database
            self.encoding = encoding
            self.collate = collate
            self.ctype = ctype
            self.snapshot = snapshot
            self.walLSN = walLSN
            self.pgDumpVersion = pgDumpVersion
            self.copySettings = copySettings
            self.tables = tables
            self.sequences = sequences
            self.materializedViews = materializedViews
            self.roles = roles
        }
    }

    public struct PostgresTable: Codable, Sendable, Equatable {
        public var schema: String
        public var name: String
        /// The columns copied, in order (generated columns are left out: the server recomputes them).
        public var columns: [String]
        public var rows: Int64
        /// Order-independent digest of the COPY text rows (see ContentDigest).
        public var digest: String
        /// The data file, relative to the snapshot directory.
        public var file: String
        /// Binary (bytea) columns that enter the row digest by the SHA-256 of their bytes rather
        /// than their hex text (see RowHasher). Format version 2; absent in version 1 and for
        /// tables without such columns.
        public var hashedColumns: [String]?

        public init(schema: String, name: String, columns: [String], rows: Int64, digest: String, file: String,
                    hashedColumns: [String]? = nil) {
            self.schema = schema
            self.name = name
            self.columns = columns
            self.rows = rows
            self.digest = digest
            self.file = file
            self.hashedColumns = hashedColumns
        }

    }

    public struct PostgresSequence: Codable, Sendable, Equatable {
        public var schema: String
        public var name: String
        public var lastValue: String
        public var isCalled: Bool

        public init(schema: String, name: String, lastValue: String, isCalled: Bool) {
            self.schema = schema
            self.name = name
            self.lastValue = lastValue
            self.isCalled = isCalled
        }
    }

    public struct PostgresMaterializedView: Codable, Sendable, Equatable {
        public var schema: String
        public var name: String
        public var populated: Bool

        public init(schema: String, name: String, populated: Bool) {
            self.schema = schema
            self.name = name
            self.populated = populated
        }
    }
}
