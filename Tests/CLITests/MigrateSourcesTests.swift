import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

/// Where migrate reads from and writes to: a snapshot's source, a configured source, a bare
/// path without any config, a configured PostgreSQL target; a source written to throughout; and
/// a real third-party database (Sakila).
@Suite struct MigrateSourcesTests {
    @Test func snapshotConfiguredAndBareSources() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("sources")
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(db), name: "target")
        let backup = try ws.run(["backup", "--source", "backend"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let id = try #require(try ws.snapshotIDs().first)
        let atBackup = try sqliteValue(ws.source, "SELECT count(*) FROM patients")
        // Written after the snapshot: the snapshot's source does not hold this row.
        try makeSQLite(ws.source, "INSERT INTO patients (mrn, given_name, family_name, birth_date, sex) VALUES ('after', 'a', 'b', '2001-01-01', 'U');")
        let now = try sqliteValue(ws.source, "SELECT count(*) FROM patients")
        try #require(now != atBackup)

        // SNAPSHOT:NAME (latest, and a prefix of the id), into the configured PostgreSQL source.
        let latest = try migrate(["--from", "latest:backend", "--to", "target", "--schema", "from_latest", "--json"], config: ws.config)
        try expectMigrated(latest)
        #expect(try pg.value(db, "SELECT count(*) FROM from_latest.patients") == atBackup)
        #expect((try migrateReport(latest)["moment"] as? String)?.contains(id) == true)
        let prefix = try migrate(["--from", String(id.prefix(15)) + ":backend", "--to", "target", "--schema", "from_prefix"], config: ws.config)
        try expectMigrated(prefix)
        #expect(try pg.value(db, "SELECT count(*) FROM from_prefix.patients") == atBackup)

        // A configured SQLite source, the config given with --config.
        let configured = try migrate(["--config", ws.config, "--from", "backend", "--to", "target", "--schema", "from_config"])
        try expectMigrated(configured)
        #expect(try pg.value(db, "SELECT count(*) FROM from_config.patients") == now)

        // No config at all (EHRDATA_CONFIG names a missing file): a path and a connection string.
        let bare = try migrate(["--from", ws.source, "--to", pg.connection(db), "--schema", "from_path"])
        try expectMigrated(bare)
        #expect(try pg.value(db, "SELECT count(*) FROM from_path.patients") == now)
        let uri = try migrate(["--from", ws.source, "--to", "postgresql://\(pg.user)@\(pg.host):\(pg.port)/\(db)", "--schema", "from_uri"])
        try expectMigrated(uri)
        #expect(try pg.value(db, "SELECT count(*) FROM from_uri.patients") == now)

        // A name without a config to find it in is a config error, not a guess.
        let noConfig = try migrate(["--from", "backend", "--to", pg.connection(db), "--schema", "never"])
        #expect(noConfig.status == 78, "a source name without a config: \(noConfig.status) \(noConfig.stderr)")
        #expect(!(try pg.userSchemas(db)).contains("never"))
    }

    /// Pairs of rows (one into `a`, one into `b`) and a transfer between two accounts, each in
    /// one transaction.
    static func pairAndTransfer(_ i: Int) -> String {
        let from = i % 10 + 1, to = (i * 7) % 10 + 1
        return """
            BEGIN IMMEDIATE;
            INSERT INTO a (n) VALUES (\(i));
            INSERT INTO b (n) VALUES (\(i));
            UPDATE accounts SET balance = balance - \(i % 97) WHERE id = \(from);
            UPDATE accounts SET balance = balance + \(i % 97) WHERE id = \(to);
            COMMIT;
            """
    }

    @Test(arguments: ["wal", "delete"])
    func aWriterCommittingThroughout(journal: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("live")
        let dir = TempDirectory("ehrdata-migs")
        let path = dir.file("live.sqlite")
        try makeSQLite(path, """
            PRAGMA journal_mode = \(journal);
            CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
            CREATE TABLE b (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
            CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
            WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 10) INSERT INTO accounts SELECT i, 1000 FROM k;
            CREATE TABLE filler (id INTEGER PRIMARY KEY, t TEXT);
            WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 50000) INSERT INTO filler SELECT i, hex(randomblob(40)) FROM k;
            """)
        let writer = CommittingWriter(path, transaction: Self.pairAndTransfer)
        var stopped = false
        defer { if !stopped { writer.stop() } }
        let started = eventually { ((try? sqliteValue(path, "SELECT count(*) FROM a")).flatMap { Int($0) } ?? 0) >= 200 }
        try #require(started, "the writer did not start: \(writer.failure ?? "")")

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--jobs", "2", "--json"], environment: ["EHRDATA_TEST_SPLIT_ROWS": "1000"])
        let countAtEnd = Int(try sqliteValue(path, "SELECT count(*) FROM a")) ?? 0
        // The writer kept committing after the migrate ended: it wrote throughout.
        let continued = eventually { ((try? sqliteValue(path, "SELECT count(*) FROM a")).flatMap { Int($0) } ?? 0) > countAtEnd + 50 }
        writer.stop()
        stopped = true
        #expect(writer.failure == nil, "the writer failed: \(writer.failure ?? "")")
        #expect(continued, "the writer stopped committing during the migrate")
        try expectMigrated(r)
        // WAL: read in place by connections pinned to one commit; rollback journal: copied.
        let moment = try migrateReport(r)["moment"] as? String ?? ""
        #expect(moment.hasPrefix(journal == "wal" ? "read in place at " : "copied at "), "moment: \(moment)")

        let loaded = Int(try pg.value(db, "SELECT count(*) FROM public.a")) ?? 0
        #expect(loaded >= 200 && loaded <= countAtEnd, "rows of a in the target: \(loaded), at the start at least 200, at the end \(countAtEnd)")
        #expect(try pg.value(db, "SELECT count(*) FROM public.b") == String(loaded))
        #expect(try pg.value(db, "SELECT count(*) FROM public.a FULL JOIN public.b USING (id) WHERE a.n IS DISTINCT FROM b.n") == "0")
        #expect(try pg.value(db, "SELECT sum(balance) FROM public.accounts") == "10000")
        #expect(try pg.value(db, "SELECT max(n) FROM public.a") == String(loaded))
        #expect(try pg.value(db, "SELECT count(*) FROM public.filler") == "50000")
    }

    /// Sakila, a third-party SQLite database: migrates under stop with parity, every table's
    /// row count as sqlite3 counts it.
    @Test func sakilaMigratesWithParity() throws {
        let corpus = Repository.sharedDirectory + "/corpus/sakila-sqlite/sakila.sqlite"
        try #require(FileManager.default.fileExists(atPath: corpus), "no \(corpus) (\(Repository.sharedDirectoryOrigin))")
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("sakila")
        let dir = TempDirectory("ehrdata-migs")
        let path = dir.file("sakila.sqlite")
        try FileManager.default.copyItem(atPath: corpus, toPath: path)

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "sakila", "--json"])
        try expectMigrated(r)
        let tables = reportTables(try migrateReport(r))
        let names = try sqliteValue(path, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1")
            .split(separator: "\n").map(String.init)
        #expect(names.count >= 16)
        #expect(Set(tables.keys) == Set(names))
        for name in names {
            #expect(tables[name]?["parity"] as? String == "ok", "\(name): parity \(tables[name]?["parity"] ?? "none")")
            let count = try sqliteValue(path, "SELECT count(*) FROM \"\(name)\"")
            #expect(try pg.value(db, "SELECT count(*) FROM sakila.\"\(name)\"") == count, "\(name): row count")
        }
        // A sample of values read back: a timestamp column, never shifted by the zone.
        #expect(try pg.value(db, "SELECT last_update::text FROM sakila.actor WHERE actor_id = 1")
                == (try sqliteValue(path, "SELECT last_update FROM actor WHERE actor_id = 1")))
        #expect(try pg.value(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'sakila.payment'::regclass AND attname = 'amount'")
                == "numeric(5,2)")

        // Its views arrive and give SQLite's row counts; its indexes arrive; its triggers are listed.
        let views = try sqliteValue(path, "SELECT name FROM sqlite_schema WHERE type = 'view' ORDER BY 1").split(separator: "\n").map(String.init)
        #expect(views.count == 5)
        for view in views {
            #expect(try pg.value(db, "SELECT count(*) FROM sakila.\"\(view)\"") == (try sqliteValue(path, "SELECT count(*) FROM \"\(view)\"")),
                    "view \(view)")
        }
        let indexes = try sqliteValue(path, "SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'idx%' ORDER BY 1")
        #expect(try pg.value(db, "SELECT string_agg(indexname, E'\\n' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'sakila' AND indexname LIKE 'idx%'")
                == indexes)
        let report = try migrateReport(r)
        let listed = (report["untranslated"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "trigger" }.compactMap { $0["name"] as? String }
        #expect(listed.sorted() == (try sqliteValue(path, "SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY 1")).split(separator: "\n").map(String.init))
        #expect((report["untranslated"] as? [[String: Any]] ?? []).allSatisfy { $0["kind"] as? String == "trigger" }, "only triggers are not carried over")

        // What SQLite's CHECKs and foreign keys refuse, PostgreSQL refuses too.
        let film = "INSERT INTO film (title, language_id, last_update, rating) VALUES ('X', 1, '2020-01-01', 'XX')"
        #expect(try Run.sqlite3(path, film).status != 0)
        #expect(try pg.psql(db, "SET search_path = sakila; " + film).status != 0)
        let features = "INSERT INTO film (title, language_id, last_update, special_features) VALUES ('X', 1, '2020-01-01', 'Bloopers')"
        #expect(try Run.sqlite3(path, features).status != 0)
        #expect(try pg.psql(db, "SET search_path = sakila; " + features).status != 0)
        let orphan = "INSERT INTO payment (customer_id, staff_id, amount, payment_date, last_update) VALUES (99999, 1, 1, '2020-01-01', '2020-01-01')"
        #expect(try Run.sqlite3(path, "PRAGMA foreign_keys = ON; " + orphan).status != 0)
        #expect(try pg.psql(db, "SET search_path = sakila; " + orphan).status != 0)
        // And what they accept, it accepts: a CHECK matched case-insensitively, as SQLite's LIKE does.
        #expect(try pg.psql(db, "SET search_path = sakila; INSERT INTO film (title, language_id, last_update, special_features) VALUES ('X', 1, '2020-01-01', 'deleted scenes')").status == 0)
    }
}
