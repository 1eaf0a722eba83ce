import EHRCore
import Foundation

/// The roles a database names, read from the catalogs. Roles are cluster-wide, so pg_dump's
/// schema names them (owners, grants) but never creates them; these are recorded as data so a
/// restore onto a new server can create the missing ones. Never passwords (`pg_roles` shows
/// none) and never role settings.
extension PostgresCatalog {
    /// Every role that owns, is granted, grants, or is named by a policy or default privilege of
    /// something in this database outside the system schemas and extensions, plus the database's
    /// owner; PUBLIC (grantee 0) and the predefined `pg_` roles left out. Sorted by name; each
    /// role's memberships only among these roles.
    public func roles() throws -> [Manifest.PostgresRole] {
        let rows = try connection.rows("""
            WITH user_ns AS (
              SELECT tableoid, oid, nspowner, nspacl FROM pg_namespace
              WHERE nspname NOT IN ('pg_catalog', 'information_schema')
                AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
            ), objects AS (
              SELECT tableoid, oid, relowner AS owner, relacl AS acl FROM pg_class WHERE relnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, proowner, proacl FROM pg_proc WHERE pronamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, typowner, typacl FROM pg_type WHERE typnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, oprowner, NULL FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, opcowner, NULL FROM pg_opclass WHERE opcnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, opfowner, NULL FROM pg_opfamily WHERE opfnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, collowner, NULL FROM pg_collation WHERE collnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, conowner, NULL FROM pg_conversion WHERE connamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, cfgowner, NULL FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, dictowner, NULL FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, stxowner, NULL FROM pg_statistic_ext WHERE stxnamespace IN (SELECT oid FROM user_ns)
              UNION ALL SELECT tableoid, oid, nspowner, nspacl FROM user_ns
              UNION ALL SELECT tableoid, oid, defaclrole, defaclacl FROM pg_default_acl
              UNION ALL SELECT tableoid, oid, evtowner, NULL FROM pg_event_trigger
              UNION ALL SELECT tableoid, oid, fdwowner, fdwacl FROM pg_foreign_data_wrapper
              UNION ALL SELECT tableoid, oid, srvowner, srvacl FROM pg_foreign_server
              -- The view, not the catalog: pg_user_mapping is readable by superusers only, and the
              -- backup role needs no more than SELECT on the tables.
              UNION ALL SELECT 'pg_user_mapping'::regclass, umid, umuser, NULL FROM pg_user_mappings
              UNION ALL SELECT tableoid, oid, lomowner, lomacl FROM pg_largeobject_metadata
              UNION ALL SELECT tableoid, oid, pubowner, NULL FROM pg_publication
            ), own AS (
              SELECT o.* FROM objects o WHERE NOT EXISTS (
                SELECT 1 FROM pg_depend d WHERE d.deptype = 'e' AND d.classid = o.tableoid AND d.objid = o.oid)
            ), named AS (
              SELECT s.refobjid AS oid FROM pg_shdepend s
              WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND s.refclassid = 'pg_authid'::regclass
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'e' AND d.classid = s.classid AND d.objid = s.objid)
              UNION SELECT datdba FROM pg_database WHERE datname = current_database()
              UNION SELECT owner FROM own
              UNION SELECT (aclexplode(acl)).grantee FROM own WHERE acl IS NOT NULL
              UNION SELECT (aclexplode(acl)).grantor FROM own WHERE acl IS NOT NULL
              UNION SELECT (aclexplode(a.attacl)).grantee FROM pg_attribute a
                JOIN own c ON c.tableoid = 'pg_class'::regclass AND c.oid = a.attrelid WHERE a.attacl IS NOT NULL
              UNION SELECT (aclexplode(a.attacl)).grantor FROM pg_attribute a
                JOIN own c ON c.tableoid = 'pg_class'::regclass AND c.oid = a.attrelid WHERE a.attacl IS NOT NULL
              UNION SELECT unnest(polroles) FROM pg_policy
            ), recorded AS (
              SELECT r.* FROM pg_roles r WHERE r.oid IN (SELECT oid FROM named) AND r.rolname NOT LIKE 'pg\\_%'
            )
            SELECT r.rolname, r.rolcanlogin, r.rolinherit, r.rolcreatedb, r.rolcreaterole, r.rolconnlimit,
                   r.rolsuper, r.rolreplication, r.rolbypassrls,
                   coalesce((SELECT json_agg(json_build_array(g.rolname, m.admin_option) ORDER BY g.rolname COLLATE "C")::text
                             FROM pg_auth_members m JOIN recorded g ON g.oid = m.roleid WHERE m.member = r.oid), '[]')
            FROM recorded r ORDER BY r.rolname COLLATE "C"
            """)
        return rows.map { r in
            Manifest.PostgresRole(name: r[0] ?? "", login: r[1] == "t", inherit: r[2] == "t", createDB: r[3] == "t",
                                  createRole: r[4] == "t", connectionLimit: Int(r[5] ?? "-1") ?? -1,
                                  memberOf: Self.memberships(r[9] ?? "[]"), superuser: r[6] == "t",
                                  replication: r[7] == "t", bypassRLS: r[8] == "t")
        }
    }

    /// `[["role", true], …]` as json_agg prints it.
    static func memberships(_ text: String) -> [Manifest.Membership] {
        guard let data = text.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [[Any]] else { return [] }
        return array.compactMap { pair in
            guard pair.count == 2, let role = pair[0] as? String, let admin = pair[1] as? Bool else { return nil }
            return Manifest.Membership(role: role, adminOption: admin)
        }
    }
}
