import EHRTestSupport
import Foundation
import Testing

/// PostgreSQL quotes row values in its errors (`invalid input syntax for type integer: "…"`, a
/// unique violation's key, a failing row); pg_restore quotes statements. None of it may reach
/// stdout, stderr, --json or the debug log; `--show-values` shows it on request.
@Suite struct NoValuesInOutputTests {
    /// Rewrites one table's COPY text in a snapshot (and every checksum that covers it), as a
    /// damaged or hostile snapshot could hold it.
    static func rewriteTable(_ ws: Workspace, _ id: String, table: String, _ transform: (String) -> String) throws {
        let manifestPath = ws.snapshotDirectory(id) + "/manifest.json"
        var json = try ws.manifestJSON(id)
        var sources = json["sources"] as! [[String: Any]]
        let s = sources.firstIndex { $0["kind"] as? String == "postgres" }!
        let postgres = sources[s]["postgres"] as! [String: Any]
        let fileName = (postgres["tables"] as! [[String: Any]]).first { $0["name"] as? String == table }!["file"] as! String
        var files = sources[s]["files"] as! [[String: Any]]
        let f = files.firstIndex { $0["path"] as? String == fileName }!
        let path = ws.snapshotDirectory(id) + "/" + fileName
        let plain = try Run.program("/bin/sh", ["-c", "gunzip -c '\(path)'"]).stdout
        let changed = transform(plain)
        #expect(changed != plain, "the rewrite changed nothing")
        let scratch = ws.dir.file("rewritten.copy")
        try changed.write(toFile: scratch, atomically: true, encoding: .utf8)
        #expect(try Run.program("/bin/sh", ["-c", "gzip -c '\(scratch)' > '\(path)'"]).status == 0)
        func digest(_ file: String) throws -> [String: Any] {
            let sha = try Run.program("/usr/bin/sha256sum", [file]).stdout.split(separator: " ")[0]
            let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int
            return ["sha256": String(sha), "size": size]
        }
        files[f]["compressed"] = try digest(path)
        files[f]["uncompressed"] = try digest(scratch)
        files[f]["members"] = [["compressedSize": (files[f]["compressed"] as! [String: Any])["size"]!,
                                "uncompressedSize": (files[f]["uncompressed"] as! [String: Any])["size"]!]]
        sources[s]["files"] = files
        json["sources"] = sources
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: manifestPath))
        let dir = ws.snapshotDirectory(id)
        #expect(try Run.program("/bin/sh", ["-c", "cd '\(dir)' && sha256sum manifest.json > manifest.sha256"]).status == 0)
    }

    /// One seeded value per path: the value, the table to put it in, and how.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let secret: String
        /// What the error must still name (so it stays useful).
        let names: [String]
        let transform: @Sendable (String) -> String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "bad integer", secret: "SECRET42", names: ["22P02", "visits", "line 2"]) {
            $0.replacingOccurrences(of: "2\t20\t", with: "2\tSECRET42\t")
        },
        Case(name: "bad date", secret: "1950-02-30", names: ["22008", "visits"]) {
            $0.replacingOccurrences(of: "2020-01-03", with: "1950-02-30")
        },
        Case(name: "NOT NULL violation", secret: "NN-SECRET-5", names: ["23502", "visits"]) {
            $0.replacingOccurrences(of: "\tnote 3\t2020-01-04", with: "\tNN-SECRET-5\t\\N")
        },
        Case(name: "CHECK violation", secret: "CHK-SECRET-7", names: ["23514", "visits"]) {
            $0.replacingOccurrences(of: "4\t40\tnote 4", with: "4\t-40\tCHK-SECRET-7")
        },
        Case(name: "duplicate key, through pg_restore", secret: "DUP-SECRET-9", names: ["pg_restore", "could not create unique index"]) {
            $0.replacingOccurrences(of: "\tnote 5\t", with: "\tDUP-SECRET-9\t").replacingOccurrences(of: "\tnote 6\t", with: "\tDUP-SECRET-9\t")
        },
    ]

    @Test(arguments: cases)
    func noSeededValueInAnyOutput(_ c: Case) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let source = try dbs.create("values")
        try pg.script(source, """
            CREATE TABLE visits (id int PRIMARY KEY, score int CHECK (score > 0), note text UNIQUE, seen date NOT NULL);
            INSERT INTO visits SELECT g, g * 10, 'note ' || g, date '2020-01-01' + g FROM generate_series(1, 8) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let id = try #require(try ws.snapshotIDs().first)
        try Self.rewriteTable(ws, id, table: "visits", c.transform)

        for extra in [[], ["--json"], ["--log-level", "debug"], ["--log-level", "trace", "--json"]] {
            let r = try ws.run(["restore", id, "--source", "fhir", "--to-database", dbs.name("r\(extra.count)")] + extra)
            #expect(r.status == 1, "\(c.name) \(extra): exit \(r.status): \(r.stderr)")
            let output = r.stdout + r.stderr
            #expect(!output.contains(c.secret), "\(c.name) \(extra): the value is in the output: \(output)")
            for name in c.names {
                #expect(output.contains(name), "\(c.name) \(extra): the error does not name \(name): \(r.stderr)")
            }
        }
        // On request, for a person at a terminal, PostgreSQL's own words.
        let shown = try ws.run(["restore", id, "--source", "fhir", "--to-database", dbs.name("shown"), "--show-values"])
        #expect(shown.status == 1)
        if c.name != "duplicate key, through pg_restore" { // pg_restore's error line is what is kept for a tool
            #expect(shown.stderr.contains(c.secret), "--show-values did not show the server's text: \(shown.stderr)")
        }
    }

    // MARK: secrets in connection strings

    @Test(arguments: [
        "host=127.0.0.1 password=FIRST-1111 port=1 password=SECOND-2222 dbname=x",
        // A password with a space, unquoted: libpq's parse error quotes the part after the space.
        "host=127.0.0.1 port=1 password=first PW-7777 dbname=x",
        "postgresql://u:URI-3333@127.0.0.1:1/x?password=QUERY-4444",
        "host=127.0.0.1 port=1 password='QUOTED-5555 dbname=x",
        // An unencoded @ or / in a URI's password: libpq would read part of it as the host.
        "postgresql://u:SEC@AT-8888@127.0.0.1:1/x",
        "postgresql://u:SEC/SLASH-9999@127.0.0.1:1/x",
        // A quote inside the token libpq complains about.
        "host=127.0.0.1 port=1 dbname=x password=ab cd\"QUOTE-1212",
        "host=127.0.0.1 port=1 dbname=x sslpassword=SSL-1313",
    ])
    func noPasswordInAnyOutput(_ connection: String) throws {
        let ws = try Workspace()
        try ws.configure(postgres: connection, withSQLite: false)
        try (try String(contentsOfFile: ws.config, encoding: .utf8) + "    retries: 0\n").write(toFile: ws.config, atomically: true, encoding: .utf8)
        let secrets = ["FIRST-1111", "SECOND-2222", "PW-7777", "URI-3333", "QUERY-4444", "QUOTED-5555", "AT-8888", "SLASH-9999",
                       "QUOTE-1212", "SSL-1313", "SEC"]
        for command in [["config", "check"], ["config", "check", "--json"], ["backup", "--log-level", "trace"],
                        ["backup", "--json", "--show-values"]] {
            let r = try ws.run(command)
            #expect(r.status != 0, "\(command) succeeded against port 1")
            let output = r.stdout + r.stderr
            for secret in secrets {
                #expect(!output.contains(secret), "\(command): a password is in the output: \(output)")
            }
        }
    }

    @Test func aPasswordInAConfigReadableByOthersIsWarnedAbout() throws {
        let ws = try Workspace()
        try ws.configure(postgres: "host=127.0.0.1 port=1 dbname=x password=MODE-6666", withSQLite: false)
        #expect(chmod(ws.config, 0o644) == 0)
        for command in [["config", "check"], ["backup"]] {
            let r = try ws.run(command)
            #expect(r.stderr.contains("chmod 600") || r.stdout.contains("chmod 600"), "\(command): \(r.stdout) \(r.stderr)")
            #expect((r.stdout + r.stderr).contains("0644"))
            #expect(!(r.stdout + r.stderr).contains("MODE-6666"))
        }
        #expect(chmod(ws.config, 0o600) == 0)
        let quiet = try ws.run(["config", "check"])
        #expect(!(quiet.stdout + quiet.stderr).contains("chmod 600"), "\(quiet.stdout)")
    }

    // MARK: what user code and the server say on their own

    /// A CHECK that calls a function: it raises NOTICEs (for every restored row) and, for some
    /// values, an exception that sets every error field to the value. The restore of the
    /// unedited snapshot succeeds with notices; an edited value makes it fail from user code.
    @Test func noticesAndErrorsRaisedByUserCodeKeepNoValue() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let source = try dbs.create("raise")
        try pg.script(source, """
            CREATE FUNCTION chk(v text) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
              RAISE NOTICE 'checking %', v;
              IF v LIKE 'EVIL%' THEN RAISE EXCEPTION 'bad %', v USING COLUMN = v, TABLE = v, CONSTRAINT = v, DATATYPE = v, SCHEMA = v; END IF;
              RETURN true;
            END $$;
            CREATE TABLE patients (id int PRIMARY KEY, name text CHECK (chk(name)), ref regclass);
            INSERT INTO patients VALUES (1, 'Alice NOTICE-SECRET', 'pg_class'), (2, 'Bob', 'pg_class');
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        try #require(try ws.run(["backup"]).status == 0)
        let id = try #require(try ws.snapshotIDs().first)
        let quiet = try ws.run(["restore", id, "--source", "fhir", "--to-database", dbs.name("n"), "--log-level", "trace"])
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(!(quiet.stdout + quiet.stderr).contains("NOTICE-SECRET"), "a server notice reached the output: \(quiet.stderr)")

        for (from, to) in [("Alice NOTICE-SECRET", "EVIL-SECRET-3"), ("pg_class", "regclass_secret_4")] {
            let (ws2, id2) = (ws, id)
            try Self.rewriteTable(ws2, id2, table: "patients") { $0.replacingOccurrences(of: from, with: to) }
            for extra in [[], ["--json"], ["--log-level", "trace"]] {
                let r = try ws2.run(["restore", id2, "--source", "fhir", "--to-database", dbs.name("e\(extra.count)")] + extra)
                #expect(r.status == 1, "\(to) \(extra): exit \(r.status): \(r.stderr)")
                #expect(!(r.stdout + r.stderr).contains(to), "\(to) \(extra): in the output: \(r.stdout) \(r.stderr)")
                #expect(r.stderr.contains("COPY patients, line"), "\(r.stderr)")
            }
            try Self.rewriteTable(ws2, id2, table: "patients") { $0.replacingOccurrences(of: to, with: from) }
        }
    }

    /// The documented backup role: SELECT on the tables, nothing more.
    @Test func aSelectOnlyRoleBacksUp() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let source = try dbs.create("selectonly")
        let role = try dbs.createRole("bk", "LOGIN")
        try pg.script(source, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
            GRANT SELECT ON ALL TABLES IN SCHEMA public TO \(role);
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source, user: role), withSQLite: false)
        let r = try ws.run(["backup"])
        #expect(r.status == 0, "\(r.stderr)")
    }
}

