import EHRTestSupport
import Foundation
import Testing

/// Each PostgreSQL mistake gets one clear error line, its documented exit code, and publishes
/// nothing: the archive is unchanged.
@Suite struct PostgresBadInputTests {
    /// A small database to point sources at.
    static func smallDatabase(_ pg: PGServer, _ dbs: PGDatabases, _ label: String = "small") throws -> String {
        let db = try dbs.create(label)
        try pg.script(db, """
            CREATE TABLE visits (id int PRIMARY KEY, reason text NOT NULL);
            INSERT INTO visits SELECT g, 'checkup ' || g FROM generate_series(1, 20) g;
            """)
        return db
    }

    /// A failed backup: the error, the exit code, and an untouched archive.
    func expectBackupFails(_ ws: Workspace, code: Int32, mentions: [String], environment: [String: String] = [:],
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessResult {
        let before = try ws.archiveState()
        let r = try ws.run(["backup"], environment: environment)
        expectFailure(r, code: code, mentions: mentions, sourceLocation: sourceLocation)
        #expect(try ws.archiveState() == before, "a failed backup changed the archive", sourceLocation: sourceLocation)
        #expect(try ws.snapshotIDs().isEmpty, "a failed backup published a snapshot", sourceLocation: sourceLocation)
        return r
    }

    @Test func unreachableServer() throws {
        let ws = try Workspace()
        // Nothing listens on port 1.
        try ws.configure(postgres: "host=127.0.0.1 port=1 user=postgres dbname=postgres")
        _ = try expectBackupFails(ws, code: 1, mentions: ["fhir", "127.0.0.1"])
    }

    @Test func missingDatabase() throws {
        let pg = try PGServer()
        let missing = "ehrt_" + randomHex() + "_missing"
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(missing))
        _ = try expectBackupFails(ws, code: 66, mentions: ["fhir", missing])
        #expect(try !pg.exists(database: missing), "the backup created the missing database")
    }

    /// The test server trusts 127.0.0.1; one pg_hba.conf line makes this test's role use
    /// scram-sha-256. A wrong PGPASSWORD fails without printing it; the right one, from
    /// PGPASSWORD or a PGPASSFILE, works.
    @Test func wrongPassword() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try Self.smallDatabase(pg, dbs)
        let role = try dbs.createRole("scram", "LOGIN PASSWORD 'right-Pa55'", before: "SET password_encryption = 'scram-sha-256';")
        try pg.value("postgres", "GRANT pg_read_all_data TO \(role)")
        let hba = try HBALine(pg, "host all \(role) 127.0.0.1/32 scram-sha-256")
        defer { hba.remove() }
        // The reload is asynchronous: wait until the server asks this role for a password.
        let wrongSecret = "Wr0ng-" + randomHex(12)
        let enforced = try eventually {
            try pg.psql(db, "SELECT 1", user: role, environment: ["PGPASSWORD": wrongSecret])
                .stderr.contains("password authentication failed")
        }
        try #require(enforced, "the server did not start asking \(role) for a password")

        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db, user: role))
        let r = try expectBackupFails(ws, code: 1, mentions: ["fhir", "password"], environment: ["PGPASSWORD": wrongSecret])
        #expect(!r.stderr.contains(wrongSecret) && !r.stdout.contains(wrongSecret), "the password was printed")

        let good = try ws.run(["backup"], environment: ["PGPASSWORD": "right-Pa55"])
        #expect(good.status == 0, "backup with the right PGPASSWORD failed: \(good.stderr)")
        try ws.dir.write("\(pg.host):\(pg.port):*:\(role):right-Pa55\n", to: "pgpass")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: ws.dir.file("pgpass"))
        let passfile = try ws.run(["backup"], environment: ["PGPASSFILE": ws.dir.file("pgpass")])
        #expect(passfile.status == 0, "backup with the password in PGPASSFILE failed: \(passfile.stderr)")
        #expect(try ws.snapshotIDs().count == 2)
        #expect(!(try String(contentsOfFile: ws.config, encoding: .utf8)).contains("right-Pa55"))
    }

    /// A role that may not read one table: the error names the table, never a row of it.
    @Test func missingPrivilege() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try Self.smallDatabase(pg, dbs)
        let secret = "SSN 078-05-1120 " + randomHex()
        try pg.script(db, """
            CREATE TABLE secret_notes (id int PRIMARY KEY, body text NOT NULL);
            INSERT INTO secret_notes VALUES (1, \(literal(secret)));
            """)
        let reader = try dbs.createRole("reader")
        try pg.script(db, "GRANT SELECT ON visits TO \(reader);")
        try #require(try pg.psql(db, "SELECT * FROM secret_notes", user: reader).status != 0)

        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db, user: reader))
        let r = try expectBackupFails(ws, code: 1, mentions: ["fhir", "secret_notes"])
        #expect(!r.stderr.contains(secret) && !r.stdout.contains(secret), "row values in the error")
        #expect(!r.stderr.contains("078-05-1120"), "row values in the error")
    }

    /// `--to-database` never loads into a database that already holds something.
    @Test func restoreIntoANonEmptyDatabaseIsRefused() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try Self.smallDatabase(pg, dbs)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db))
        _ = try ws.ok(["backup"])
        let target = try dbs.create("occupied")
        try pg.script(target, "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me');")
        let before = try pg.tableDigests(target)
        let archive = try ws.archiveState()
        expectFailure(try ws.run(["restore", "latest", "--source", "fhir", "--to-database", target]), code: 73, mentions: [target])
        #expect(try pg.tableDigests(target) == before)
        #expect(try pg.value(target, "SELECT count(*) FROM pg_class WHERE relname = 'visits'") == "0")
        #expect(try ws.archiveState() == archive)
    }

    /// A snapshot from a newer server major than the target's is refused before anything is
    /// created (pg_dump's output does not load into an older server).
    @Test func snapshotFromANewerServerMajorIsRefused() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try Self.smallDatabase(pg, dbs)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        _ = try ws.ok(["backup"])
        let id = try #require(try ws.snapshotIDs().first)
        let dir = ws.snapshotDirectory(id)
        let text = try String(contentsOfFile: dir + "/manifest.json", encoding: .utf8)
        let edited = try #require(Self.withServerVersion99(text), "no serverVersion in the manifest")
        try edited.write(toFile: dir + "/manifest.json", atomically: true, encoding: .utf8)
        // Keep the digest consistent so the version check itself is what refuses it.
        let sum = try Run.program("/bin/sh", ["-c", "cd '\(dir)' && sha256sum manifest.json > manifest.sha256"])
        try #require(sum.status == 0)
        try #require(try ws.run(["verify", id]).status == 0)

        let target = dbs.name("older")
        expectFailure(try ws.run(["restore", id, "--source", "fhir", "--to-database", target]), code: 76, mentions: ["99"])
        #expect(try !pg.exists(database: target), "the refused restore created its target")
    }

    /// Rewrites every `serverVersion…` field of the manifest (`serverVersion`, and a numeric
    /// companion such as `serverVersionNum` if there is one) to major 99: a number like 150018
    /// becomes 990000; in a string the first number becomes 99. Nil if there is none.
    static func withServerVersion99(_ manifest: String) -> String? {
        let pattern = #""serverVersion[A-Za-z]*"\s*:\s*("[^"]*"|[0-9]+)"#
        var text = manifest
        var searchFrom = text.startIndex
        var changed = false
        while let match = text.range(of: pattern, options: .regularExpression, range: searchFrom..<text.endIndex) {
            let field = String(text[match])
            let valueStart = field.range(of: ":")!.upperBound
            let value = field[valueStart...].trimmingCharacters(in: .whitespaces)
            let replaced: String
            if value.hasPrefix("\"") {
                let inner = String(value.dropFirst().dropLast())
                if inner.allSatisfy(\.isNumber) {
                    replaced = "\"990000\""
                } else if let digits = inner.range(of: "[0-9]+", options: .regularExpression) {
                    replaced = "\"" + inner.replacingCharacters(in: digits, with: "99") + "\""
                } else {
                    replaced = value
                }
            } else {
                replaced = "990000"
            }
            let newField = String(field[..<valueStart]) + " " + replaced
            text.replaceSubrange(match, with: newField)
            searchFrom = text.index(match.lowerBound, offsetBy: newField.count)
            changed = true
        }
        return changed ? text : nil
    }

    /// The backup's connections are terminated mid-copy (as when the server restarts). With
    /// retries it may succeed from a new snapshot, or fail clearly; either way nothing partial is
    /// published and every listed snapshot verifies.
    @Test func connectionsTerminatedMidBackup() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try Self.smallDatabase(pg, dbs, "busy")
        try pg.script(db, """
            CREATE TABLE big (id int PRIMARY KEY, body text NOT NULL);
            INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 200000) g;
            """)
        let ws = try Workspace()
        // PostgreSQL only: the first bytes written must be this source's, with its connections open.
        try ws.configure(postgres: pg.connection(db), withSQLite: false)
        _ = try ws.ok(["backup"])
        let reference = try #require(try ws.snapshotIDs().first)

        let backup = try Background(["backup", "--log-level", "info"], config: ws.config,
                                    environment: ["EHRDATA_TEST_PAUSE_AFTER_BYTES": "1"])
        defer { backup.killIfRunning() }
        try requirePaused(backup, at: "its first bytes")
        let terminated = try pg.value("postgres", """
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = \(literal(db)) AND application_name LIKE 'ehrdata%'
            """)
        #expect((Int(terminated) ?? 0) >= 1, "no connection named 'ehrdata…' (application_name) was open mid-backup")
        backup.resume()
        let r = finishBackground(backup, what: "the backup after its connections were terminated")

        let ids = try ws.snapshotIDs()
        if r.status == 0 {
            #expect(ids.count == 2)
            #expect(r.stderr.lowercased().contains("retr"), "succeeded after losing its connections but logged no retry: \(r.stderr)")
            let target = dbs.name("restored")
            _ = try ws.ok(["restore", "latest", "--source", "fhir", "--to-database", target])
            try pg.expectSameDatabase(db, target)
        } else {
            expectFailure(r, code: 1, mentions: ["fhir"])
            #expect(ids == [reference], "a failed backup published a snapshot")
        }
        let verify = try ws.run(["verify", "--all"])
        #expect(verify.status == 0, "a listed snapshot does not verify: \(verify.stdout) \(verify.stderr)")
        let list = try JSONSerialization.jsonObject(with: Data(try ws.ok(["list", "--json"]).utf8)) as? [[String: Any]]
        #expect(list?.compactMap { $0["id"] as? String }.sorted() == ids, "list shows something else than the published snapshots")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: ws.archive + "/staging"))?.isEmpty ?? true,
                "staging data left behind")
    }
}
