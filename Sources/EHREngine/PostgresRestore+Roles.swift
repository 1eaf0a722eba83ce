import EHRCore
import EHRPostgres

/// The roles a snapshot records (`postgres.roles`), on the target server. Without
/// `--create-roles` a restore that keeps owners or grants first checks that they all exist and
/// names the missing ones; with it, it creates the missing ones with their safe attributes only
/// (never a password, never SUPERUSER, REPLICATION or BYPASSRLS, which it reports instead), then
/// the memberships among the roles it created. A role that exists is never changed. Snapshots
/// from before roles were recorded have none: then nothing is checked, as before.
extension PostgresRestore {
    /// Owners or grants are restored, so every role the schema names must exist.
    var needsRoles: Bool { options.owners || options.privileges }

    /// The recorded roles the target server does not have, in the manifest's order.
    func missingRoles(_ admin: PostgresConnection) throws -> [Manifest.PostgresRole] {
        guard let roles = info.roles, !roles.isEmpty else { return [] }
        let names = roles.map { admin.literal($0.name) }.joined(separator: ", ")
        let existing = Set(try admin.rows("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname IN (\(names))")
            .compactMap { $0.first ?? nil })
        return roles.filter { !existing.contains($0.name) }
    }

    /// Fails, before anything is created, when owners or grants are restored without
    /// `--create-roles` and some recorded role is missing.
    func checkRoles(_ admin: PostgresConnection) throws {
        guard needsRoles, !options.createRoles else { return }
        let missing = try missingRoles(admin).map(\.name)
        guard !missing.isEmpty else { return }
        throw EHRError(.notFound, "source '\(source.name)': \(Self.describe(missing)) of the snapshot "
                       + "\(missing.count == 1 ? "does" : "do") not exist on this server",
                       hint: "pass --create-roles to create \(missing.count == 1 ? "it" : "them") (no passwords), or --no-owner --no-privileges")
    }

    /// "role a" or "roles a, b, c, d, e and 3 more".
    static func describe(_ names: [String], shown: Int = 5) -> String {
        let listed = names.prefix(shown).joined(separator: ", ")
        let more = names.count > shown ? " and \(names.count - shown) more" : ""
        return (names.count == 1 ? "role " : "roles ") + listed + more
    }

    /// With `--create-roles`: the missing roles and the memberships among them, in one
    /// transaction (all or none).
    func createMissingRoles(_ admin: PostgresConnection) throws {
        guard options.createRoles, info.roles != nil else { return }
        try admin.execute("BEGIN")
        do {
            let missing = try missingRoles(admin)
            for role in missing { try admin.execute(Self.createStatement(role)) }
            let created = Set(missing.map(\.name))
            for role in missing {
                for group in role.memberOf where created.contains(group.role) {
                    try admin.execute("GRANT \(PostgresConnection.identifier(group.role)) TO \(PostgresConnection.identifier(role.name))"
                                      + (group.adminOption ? " WITH ADMIN OPTION" : ""))
                }
            }
            try admin.execute("COMMIT")
            createdRoles = missing.map(\.name)
            attributesNotGranted = missing.flatMap { role in
                role.unsafeAttributes.map { RestoreEngine.RoleAttribute(role: role.name, attribute: $0) }
            }
        } catch {
            if admin.inTransaction { try? admin.execute("ROLLBACK") }
            throw error
        }
        logger.info("created the snapshot's missing roles", metadata: [
            "source": "\(source.name)", "roles": "\(createdRoles.count)", "attributes_not_granted": "\(attributesNotGranted.count)",
        ])
    }

    /// CREATE ROLE with every safe attribute explicit and the others explicitly off.
    static func createStatement(_ role: Manifest.PostgresRole) -> String {
        [
            "CREATE ROLE", PostgresConnection.identifier(role.name),
            role.login ? "LOGIN" : "NOLOGIN", role.inherit ? "INHERIT" : "NOINHERIT",
            role.createDB ? "CREATEDB" : "NOCREATEDB", role.createRole ? "CREATEROLE" : "NOCREATEROLE",
            "NOSUPERUSER NOREPLICATION NOBYPASSRLS CONNECTION LIMIT \(role.connectionLimit)",
        ].joined(separator: " ")
    }

    /// After a failed restore: the roles it created go again (a role something else has come to
    /// depend on meanwhile stays; DROP ROLE refuses it).
    func dropCreatedRoles() {
        guard !createdRoles.isEmpty, let admin = try? admin() else { return }
        for name in createdRoles.reversed() {
            try? admin.execute("DROP ROLE IF EXISTS \(PostgresConnection.identifier(name))")
        }
        createdRoles = []
        attributesNotGranted = []
    }
}
