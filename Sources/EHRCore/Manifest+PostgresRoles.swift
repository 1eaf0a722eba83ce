/// The roles a PostgreSQL source's objects, grants and default privileges name, recorded as
/// data so that a restore onto a new server can create the missing ones (never SQL to replay,
/// never a password). See docs/ARCHIVE-FORMAT.md, "`roles`".
extension Manifest {
    public struct PostgresRole: Codable, Sendable, Equatable {
        public var name: String
        public var login: Bool
        public var inherit: Bool
        public var createDB: Bool
        public var createRole: Bool
        /// -1: no limit.
        public var connectionLimit: Int
        /// Recorded roles this one is a member of.
        public var memberOf: [Membership]
        /// For reporting only: a restore never grants these.
        public var superuser: Bool
        public var replication: Bool
        public var bypassRLS: Bool

        public init(name: String, login: Bool, inherit: Bool, createDB: Bool, createRole: Bool, connectionLimit: Int,
                    memberOf: [Membership], superuser: Bool, replication: Bool, bypassRLS: Bool) {
            self.name = name
            self.login = login
            self.inherit = inherit
            self.createDB = createDB
            self.createRole = createRole
            self.connectionLimit = connectionLimit
            self.memberOf = memberOf
            self.superuser = superuser
            self.replication = replication
            self.bypassRLS = bypassRLS
        }

        /// The attributes a restore reports instead of granting, by their SQL names.
        public var unsafeAttributes: [String] {
            [(superuser, "SUPERUSER"), (replication, "REPLICATION"), (bypassRLS, "BYPASSRLS")].filter(\.0).map(\.1)
        }
    }

    public struct Membership: Codable, Sendable, Equatable {
        public var role: String
        public var adminOption: Bool

        public init(role: String, adminOption: Bool) {
            self.role = role
            self.adminOption = adminOption
        }
    }

    /// At most this many roles per source.
    public static let maxRoles = 10_000
    /// PostgreSQL's NAMEDATALEN - 1.
    public static let maxRoleNameBytes = 63

    /// What is wrong with a recorded role list, or nil. Names must be what CREATE ROLE accepts
    /// unchanged: 1 to 63 bytes, no NUL, not the reserved `pg_` prefix.
    static func rolesProblem(_ roles: [PostgresRole]) -> String? {
        guard roles.count <= maxRoles else { return "more than \(maxRoles) roles" }
        func valid(_ name: String) -> Bool {
            (1...maxRoleNameBytes).contains(name.utf8.count) && !name.utf8.contains(0) && !name.hasPrefix("pg_")
        }
        let names = Set(roles.map(\.name))
        guard names.count == roles.count else { return "a role recorded twice" }
        for role in roles {
            guard valid(role.name) else { return "an impossible role name" }
            guard (-1...Int(Int32.max)).contains(role.connectionLimit) else { return "an impossible connection limit" }
            guard role.memberOf.count <= roles.count,
                  role.memberOf.allSatisfy({ valid($0.role) && names.contains($0.role) }) else {
                return "a membership in a role that is not recorded"
            }
        }
        return nil
    }
}
