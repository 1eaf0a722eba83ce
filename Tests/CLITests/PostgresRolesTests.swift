import EHRTestSupport
import Foundation
import Testing

/// A PostgreSQL snapshot restored onto a new server (the second, bare test server): the
/// manifest records the roles the database names, `restore` without `--create-roles` names the
/// missing ones and creates nothing, and with it the roles are created with their safe
/// attributes and memberships, never SUPERUSER or BYPASSRLS, and owners and grants come back
/// exactly (pg_dump --schema-only of both databases is the same text).
@Suite struct PostgresRolesTests {
    @Test func aNewServerGetsTheSnapshotsRoles() throws {
        let pg = try PGServer()
        let pg2 = try PGServer(variable: "EHRDATA_TEST_PG2")
        let dbs = PGDatabases(pg), dbs2 = PGDatabases(pg2)
        defer {
            dbs2.drop()
            dropRoles(on: pg2, startingWith: dbs.prefix + "_")
            dbs.drop()
        }
        let owner = try dbs.createRole("owner", "NOLOGIN")
        let reader = try dbs.createRole("reader", "NOLOGIN")
        let user = try dbs.createRole("user", "LOGIN CONNECTION LIMIT 3")
        let writer = try dbs.createRole("writer", "NOLOGIN NOINHERIT")
        let creator = try dbs.createRole("creator", "LOGIN CREATEDB CREATEROLE")
        let auditor = try dbs.createRole("auditor", "NOLOGIN BYPASSRLS")
        let root = try dbs.createRole("root", "NOLOGIN SUPERUSER")
        _ = try dbs.createRole("unrelated", "LOGIN")
        try pg.value("postgres", "GRANT \(reader) TO \(user) WITH ADMIN OPTION")
        let source = try dbs.create("src")
        try pg.value("postgres", "ALTER DATABASE \(source) OWNER TO \(owner)")
        try pg.script(source, """
            CREATE SCHEMA app AUTHORIZATION \(owner);
            GRANT USAGE ON SCHEMA app TO \(reader), \(writer);
            CREATE TABLE app.patients (id serial PRIMARY KEY, name text, note text);
            INSERT INTO app.patients (name, note) VALUES ('a', 'x'), ('b', 'y');
            ALTER TABLE app.patients OWNER TO \(owner);
            GRANT SELECT ON app.patients TO \(reader);
            GRANT INSERT ON app.patients TO \(writer);
            GRANT USAGE ON SEQUENCE app.patients_id_seq TO \(writer);
            GRANT UPDATE (note) ON app.patients TO \(user);
            CREATE SEQUENCE app.visit_no;
            ALTER SEQUENCE app.visit_no OWNER TO \(writer);
            CREATE VIEW app.names AS SELECT id, name FROM app.patients;
            ALTER VIEW app.names OWNER TO \(owner);
            GRANT SELECT ON app.names TO \(user);
            CREATE FUNCTION app.count_patients() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM app.patients';
            ALTER FUNCTION app.count_patients() OWNER TO \(creator);
            REVOKE EXECUTE ON FUNCTION app.count_patients() FROM PUBLIC;
            GRANT EXECUTE ON FUNCTION app.count_patients() TO \(reader);
            ALTER DEFAULT PRIVILEGES FOR ROLE \(owner) IN SCHEMA app GRANT SELECT ON TABLES TO \(reader);
            ALTER DEFAULT PRIVILEGES FOR ROLE \(root) GRANT EXECUTE ON FUNCTIONS TO \(writer);
            ALTER TABLE app.patients ENABLE ROW LEVEL SECURITY;
            CREATE POLICY audit ON app.patients FOR SELECT TO \(auditor) USING (true);
            CREATE TABLE public.pinned (id int);
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let created = [auditor, owner, reader, root, user, writer]
        try expectRecordedRoles(ws, id, pg, roles: created + [creator], admin: [user: reader])

        // The second server has one of them already, with other attributes.
        try pg2.value("postgres", "CREATE ROLE \(creator) NOLOGIN CONNECTION LIMIT 7")
        try ws.configure(postgres: pg2.connection("postgres"), withSQLite: false)
        let target = dbs2.name("restored")

        let refused = try ws.run(["restore", id, "--source", "fhir", "--to-database", target])
        expectFailure(refused, code: 66, mentions: created.prefix(5) + ["and 1 more", "--create-roles", "--no-owner --no-privileges"])
        #expect(!refused.stderr.contains(writer) && !refused.stderr.contains(creator), "\(refused.stderr)")
        #expect(try !pg2.exists(database: target), "a refused restore created its database")
        #expect(try rolesOn(pg2, startingWith: dbs.prefix + "_") == [creator], "a refused restore created roles")

        let restore = try ws.run(["restore", id, "--source", "fhir", "--to-database", target, "--create-roles", "--json"])
        try #require(restore.status == 0, "restore --create-roles failed: \(restore.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any])
        let restored = try #require((json["restored"] as? [[String: Any]])?.first, "\(restore.stdout)")
        #expect(restored["createdRoles"] as? [String] == created)
        let notGranted = (restored["attributesNotGranted"] as? [[String: String]] ?? []).map { "\($0["role"] ?? "") \($0["attribute"] ?? "")" }
        #expect(Set(notGranted) == ["\(root) SUPERUSER", "\(auditor) BYPASSRLS"], "\(restore.stdout)")
        for (role, attribute) in [(root, "SUPERUSER"), (auditor, "BYPASSRLS")] {
            #expect(restore.stderr.split(separator: "\n").contains { $0.hasPrefix("warning:") && $0.contains(role) && $0.contains(attribute) },
                    "no warning about \(role) \(attribute): \(restore.stderr)")
        }

        // Owners and grants are the original's: the same schema dump, the same rows.
        let (dumpA, dumpB) = (try pg.schemaDump(source), try pg2.schemaDump(target))
        #expect(dumpA == dumpB, "schemas differ: \(firstDifference(dumpA, dumpB))")
        #expect(dumpA.contains("OWNER TO \(owner)") && dumpA.contains("TO \(auditor)"), "the dump names no test roles")
        #expect(try pg2.tableDigests(target, schema: "app") == (try pg.tableDigests(source, schema: "app")))

        // The created roles have the recorded safe attributes and memberships, nothing more.
        let attributes = "rolcanlogin, rolinherit, rolcreatedb, rolcreaterole, rolconnlimit"
        let names = created.map(literal).joined(separator: ", ")
        let safeQuery = "SELECT rolname, \(attributes) FROM pg_roles WHERE rolname IN (\(names)) ORDER BY 1"
        #expect(try pg2.rows("postgres", safeQuery) == (try pg.rows("postgres", safeQuery)))
        #expect(try pg2.value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN (\(names)) AND (rolsuper OR rolreplication OR rolbypassrls)") == "0")
        let members = """
            SELECT roleid::regrole::text, member::regrole::text, admin_option FROM pg_auth_members
            WHERE starts_with(member::regrole::text, \(literal(dbs.prefix))) ORDER BY 1, 2
            """
        #expect(try pg2.rows("postgres", members) == [[reader, user, "t"]])
        #expect(try pg.rows("postgres", members) == [[reader, user, "t"]])
        // The role that was there is left as it was.
        let creatorQuery = "SELECT \(attributes) FROM pg_roles WHERE rolname = \(literal(creator))"
        #expect(try pg2.value("postgres", creatorQuery) == "f|t|f|f|7")

        // Again, onto a server that now has every role: nothing is created or reported.
        let again = try ws.run(["restore", id, "--source", "fhir", "--to-database", dbs2.name("again"), "--create-roles"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!again.stdout.contains("created") && !again.stderr.contains("warning:"), "\(again.stdout)\(again.stderr)")
    }

    /// The manifest's `roles`: exactly the roles the database names (the test's, and the
    /// bootstrap superuser, which owns `pinned` without any pg_shdepend row), with their
    /// attributes as pg_roles shows them and their memberships; no password field.
    func expectRecordedRoles(_ ws: Workspace, _ id: String, _ pg: PGServer, roles: [String],
                             admin memberships: [String: String]) throws {
        let recorded = try #require(try ws.postgresManifest(id).postgres["roles"] as? [[String: Any]], "no roles in the manifest")
        let names = recorded.compactMap { $0["name"] as? String }
        #expect(names == (roles + [pg.user]).sorted(), "recorded \(names)")
        for role in recorded {
            let name = role["name"] as? String ?? ""
            guard roles.contains(name) else { continue }
            let flag = { (key: String) in jsonBool(role[key]) == true ? "t" : "f" }
            let mine = ["login", "inherit", "createDB", "createRole"].map(flag) + [jsonText(role["connectionLimit"]) ?? "?"]
                + ["superuser", "replication", "bypassRLS"].map(flag)
            let theirs = try pg.rows("postgres", """
                SELECT rolcanlogin, rolinherit, rolcreatedb, rolcreaterole, rolconnlimit, rolsuper, rolreplication, rolbypassrls
                FROM pg_roles WHERE rolname = \(literal(name))
                """).first ?? []
            #expect(mine == theirs, "role \(name): recorded \(mine), pg_roles \(theirs)")
            let memberOf = (role["memberOf"] as? [[String: Any]] ?? []).map { "\($0["role"] ?? "") \(jsonBool($0["adminOption"]) ?? false)" }
            #expect(memberOf == (memberships[name].map { ["\($0) true"] } ?? []), "role \(name) is a member of \(memberOf)")
        }
        let text = try String(contentsOfFile: ws.snapshotDirectory(id) + "/manifest.json", encoding: .utf8)
        #expect(!text.lowercased().contains("password"), "the manifest mentions passwords")
    }
}

extension PostgresRolesTests {
    /// A snapshot from before roles were recorded (no `roles` key) restores as it always did:
    /// no role check, pg_restore names the missing owner (exit 1), and --create-roles has nothing
    /// to create. A `roles` list out of the format's bounds is damage (65), nothing created.
    @Test func snapshotsWithoutRolesBehaveAsBeforeAndBadRolesAreDamage() throws {
        let pg = try PGServer()
        let pg2 = try PGServer(variable: "EHRDATA_TEST_PG2")
        let dbs = PGDatabases(pg), dbs2 = PGDatabases(pg2)
        defer {
            dbs2.drop()
            dropRoles(on: pg2, startingWith: dbs.prefix + "_")
            dbs.drop()
        }
        let owner = try dbs.createRole("owner", "NOLOGIN")
        let source = try dbs.create("old")
        try pg.script(source, "CREATE TABLE t (id int); ALTER TABLE t OWNER TO \(owner);")
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        try ws.configure(postgres: pg2.connection("postgres"), withSQLite: false)

        try rewriteRoles(ws, id, to: nil)
        for extra in [[], ["--create-roles"]] {
            let r = try ws.run(["restore", id, "--source", "fhir", "--to-database", dbs2.name("old")] + extra)
            #expect(r.status == 1, "expected pg_restore's failure (exit 1), got \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("does not exist") && !r.stderr.contains("of the snapshot"), "\(r.stderr)")
            #expect(try rolesOn(pg2, startingWith: dbs.prefix + "_").isEmpty, "roles created from a snapshot without roles")
        }

        let long = String(repeating: "r", count: 64)
        for bad in [long, "pg_reserved", ""] {
            try rewriteRoles(ws, id, to: [["name": bad, "login": false, "inherit": true, "createDB": false, "createRole": false,
                                          "connectionLimit": -1, "memberOf": [], "superuser": false, "replication": false,
                                          "bypassRLS": false]])
            let r = try ws.run(["restore", id, "--source", "fhir", "--to-database", dbs2.name("bad"), "--create-roles"])
            expectFailure(r, code: 65, mentions: ["role name", "damaged"])
            #expect(try !pg2.exists(database: dbs2.name("bad")))
            #expect(try pg2.value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN (\(literal(long)), 'pg_reserved')") == "0")
        }
    }

    /// Replaces (nil: removes) the `roles` of the snapshot's postgres source and rewrites
    /// manifest.sha256 to match, as a person with write access to the archive could.
    func rewriteRoles(_ ws: Workspace, _ id: String, to roles: [[String: Any]]?) throws {
        var manifest = try ws.manifestJSON(id)
        var sources = try #require(manifest["sources"] as? [[String: Any]])
        var postgres = try #require(sources[0]["postgres"] as? [String: Any])
        postgres["roles"] = roles
        sources[0]["postgres"] = postgres
        manifest["sources"] = sources
        let path = ws.snapshotDirectory(id) + "/manifest.json"
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
        let sum = try Run.program("/usr/bin/sha256sum", [path])
        let hex = try #require(sum.stdout.split(separator: " ").first)
        try "\(hex)  manifest.json\n".write(toFile: ws.snapshotDirectory(id) + "/manifest.sha256", atomically: false, encoding: .utf8)
    }
}

/// Roles on `server` whose names start with `prefix`, sorted.
func rolesOn(_ server: PGServer, startingWith prefix: String) throws -> [String] {
    try server.rows("postgres", "SELECT rolname FROM pg_roles WHERE starts_with(rolname, \(literal(prefix))) ORDER BY 1").map { $0[0] }
}

/// Drops the roles a restore created on `server` (after their databases are gone).
func dropRoles(on server: PGServer, startingWith prefix: String) {
    for role in (try? rolesOn(server, startingWith: prefix)) ?? [] {
        _ = try? server.psql("postgres", "DROP ROLE IF EXISTS \"\(role)\"")
    }
}
