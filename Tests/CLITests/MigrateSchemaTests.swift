import EHRTestSupport
import Foundation
import Testing

/// The rest of the schema: NOT NULL, defaults, CHECK, UNIQUE, foreign keys (composite, to a
/// UNIQUE pair, self references, actions, DEFERRABLE), COLLATE NOCASE, partial and expression
/// indexes and views, compared with the DDL expected for each; what does not translate is listed
/// with its SQL; constraints the data violates follow --on-mismatch; --plan writes nothing and
/// decides as the run does; --table migrates a subset, refusing one that breaks a foreign key.
@Suite(.serialized) struct MigrateSchemaTests {
    static let fixture = """
        CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, a INTEGER, b INTEGER, UNIQUE (a, b));
        CREATE TABLE child (
          id INTEGER PRIMARY KEY,
          parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE,
          pa INTEGER, pb INTEGER,
          self_id INTEGER REFERENCES child(id) DEFERRABLE INITIALLY DEFERRED,
          qty INTEGER NOT NULL DEFAULT 0 CHECK (qty >= 0),
          price DECIMAL(8,2) DEFAULT 4.99,
          flag BOOLEAN DEFAULT 1,
          created TEXT DEFAULT CURRENT_TIMESTAMP,
          created_at DATETIME DEFAULT (datetime('now')),
          day DATE DEFAULT CURRENT_DATE,
          email TEXT COLLATE NOCASE UNIQUE,
          note TEXT CONSTRAINT short_note CHECK (length(note) < 100),
          odd TEXT CHECK (hex(odd) <> 'FF'),
          FOREIGN KEY (pa, pb) REFERENCES parent(a, b) ON UPDATE SET NULL
        );
        CREATE INDEX child_partial ON child (qty) WHERE qty > 10;
        CREATE INDEX child_expr ON child (lower(note), qty DESC);
        CREATE INDEX child_email ON child (email);
        CREATE INDEX child_substr ON child (substr(note, 2));
        CREATE VIEW child_totals AS SELECT parent_id, count(*) AS n, sum(qty) AS total FROM child GROUP BY parent_id;
        CREATE VIEW parent_children AS SELECT p.code AS Code, t.n FROM parent AS p JOIN child_totals t ON t.parent_id = p.id;
        CREATE TABLE gone (x);
        CREATE VIEW broken AS SELECT x FROM gone;
        DROP TABLE gone;
        CREATE VIEW only_sqlite AS SELECT printf('%d', qty) AS p FROM child;
        CREATE TRIGGER child_touch AFTER UPDATE ON child BEGIN UPDATE parent SET code = code WHERE id = new.parent_id; END;
        CREATE VIRTUAL TABLE docs USING fts5(body);
        INSERT INTO docs (body) VALUES ('hello world');
        INSERT INTO parent VALUES (1, 'P1', 1, 1), (2, 'P2', 1, 2);
        INSERT INTO child (id, parent_id, pa, pb, self_id, qty, price, flag, email, note, odd)
          VALUES (1, 1, 1, 1, NULL, 5, 1.5, 1, 'A@x.org', 'first', 'o'), (2, 1, 1, 2, 1, 20, 2.25, 0, 'b@x.org', 'second', NULL),
                 (3, 2, NULL, NULL, 2, 0, NULL, NULL, NULL, NULL, NULL);
        """

    /// The expected pg_dump --schema-only of the two tables and two views (owner lines left out).
    static let expectedDDL = """
        CREATE TABLE app.child (
            id bigint NOT NULL,
            parent_id bigint,
            pa bigint,
            pb bigint,
            self_id bigint,
            qty bigint DEFAULT 0 NOT NULL,
            price numeric(8,2) DEFAULT 4.99,
            flag boolean DEFAULT true,
            created text DEFAULT to_char((statement_timestamp() AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD HH24:MI:SS'::text),
            created_at timestamp without time zone DEFAULT date_trunc('second'::text, (statement_timestamp() AT TIME ZONE 'UTC'::text)),
            day date DEFAULT ((statement_timestamp() AT TIME ZONE 'UTC'::text))::date,
            email text,
            note text,
            odd text,
            CONSTRAINT child_1_check CHECK ((qty >= 0)),
            CONSTRAINT short_note CHECK ((length(note) < 100))
        );
        CREATE VIEW app.child_totals AS
         SELECT child.parent_id,
            count(*) AS n,
            sum(child.qty) AS total
           FROM app.child child
          GROUP BY child.parent_id;
        CREATE TABLE app.parent (
            id bigint NOT NULL,
            code text NOT NULL,
            a bigint,
            b bigint
        );
        CREATE VIEW app.parent_children AS
         SELECT p.code AS "Code",
            t.n
           FROM (app.parent p
             JOIN app.child_totals t ON ((t.parent_id = p.id)));
        ALTER TABLE ONLY app.child
            ADD CONSTRAINT child_pkey PRIMARY KEY (id);
        ALTER TABLE ONLY app.parent
            ADD CONSTRAINT parent_a_b_key UNIQUE (a, b);
        ALTER TABLE ONLY app.parent
            ADD CONSTRAINT parent_code_key UNIQUE (code);
        ALTER TABLE ONLY app.parent
            ADD CONSTRAINT parent_pkey PRIMARY KEY (id);
        CREATE INDEX child_email ON app.child USING btree (lower(email));
        CREATE UNIQUE INDEX child_email_key ON app.child USING btree (lower(email));
        CREATE INDEX child_expr ON app.child USING btree (translate(note, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'::text, 'abcdefghijklmnopqrstuvwxyz'::text), qty DESC);
        CREATE INDEX child_partial ON app.child USING btree (qty) WHERE (qty > 10);
        ALTER TABLE ONLY app.child
            ADD CONSTRAINT child_pa_pb_fkey FOREIGN KEY (pa, pb) REFERENCES app.parent(a, b) ON UPDATE SET NULL;
        ALTER TABLE ONLY app.child
            ADD CONSTRAINT child_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES app.parent(id) ON DELETE CASCADE;
        ALTER TABLE ONLY app.child
            ADD CONSTRAINT child_self_id_fkey FOREIGN KEY (self_id) REFERENCES app.child(id) DEFERRABLE INITIALLY DEFERRED;
        """

    /// pg_dump --schema-only of `schema`, without comments, SET lines, owners, identity blocks
    /// and the FTS shadow tables: the statements that say what the schema is.
    static func ddl(_ pg: PGServer, _ db: String, schema: String) throws -> String {
        let r = try Run.program(PGServer.pgDump, ["--schema-only", "--schema=\(schema)", "-d", pg.connection(db)])
        try #require(r.status == 0, "pg_dump failed: \(r.stderr)")
        var statements: [String] = []
        for statement in r.stdout.components(separatedBy: ";\n") {
            let text = statement.split(separator: "\n").filter { line in
                !(line.hasPrefix("--") || line.allSatisfy(\.isWhitespace) || line.hasPrefix("\\") || line.hasPrefix("SET ")
                  || line.hasPrefix("SELECT pg_catalog.set_config"))
            }.joined(separator: "\n")
            guard !text.isEmpty, !text.contains("OWNER TO"), !text.contains("ADD GENERATED BY DEFAULT AS IDENTITY"),
                  !text.contains(".docs"), !text.hasPrefix("CREATE SCHEMA") else { continue }
            statements.append(text)
        }
        return normalized(statements.joined(separator: "\n"))
    }

    /// Lines without their closing semicolons.
    static func normalized(_ text: String) -> String {
        text.split(separator: "\n").map { $0.hasSuffix(";") ? String($0.dropLast()) : String($0) }.joined(separator: "\n")
    }

    func setUp(_ label: String, extra: String = "") throws -> (PGServer, PGDatabases, String, TempDirectory, String) {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        let db = try dbs.create(label)
        let dir = TempDirectory("ehrdata-migschema")
        let path = dir.file("app.sqlite")
        try makeSQLite(path, Self.fixture + extra)
        return (pg, dbs, db, dir, path)
    }

    @Test func everyConstructTranslatesOrIsListed() throws {
        let (pg, dbs, db, dir, path) = try setUp("ddl")
        defer { dbs.drop(); withExtendedLifetime(dir) {} }
        let r = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--json"])
        try expectMigrated(r)
        let report = try migrateReport(r)
        let ddl = try Self.ddl(pg, db, schema: "app")
        #expect(ddl == Self.normalized(Self.expectedDDL), "DDL differs: \(firstDifference(ddl, Self.normalized(Self.expectedDDL)))")

        // Listed with SQLite's text and a reason: never dropped in silence.
        let listed = (report["untranslated"] as? [[String: Any]] ?? []).map { "\($0["kind"] as? String ?? "") \($0["name"] as? String ?? "")" }
        #expect(listed.sorted() == ["check child_3_check", "index child_substr", "trigger child_touch", "view broken", "view only_sqlite", "virtual table docs"])
        let broken = (report["untranslated"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "broken" }
        #expect((broken?["reason"] as? String)?.contains("no longer runs in SQLite") == true)
        #expect((broken?["sql"] as? String)?.contains("SELECT x FROM gone") == true)
        let trigger = (report["untranslated"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == "trigger" }
        #expect((trigger?["sql"] as? String)?.contains("UPDATE parent SET code = code") == true)

        // The constraints act as SQLite's do.
        #expect(try pg.psql(db, "INSERT INTO app.child (id, qty) VALUES (10, -1)").status != 0, "CHECK qty >= 0")
        #expect(try pg.psql(db, "INSERT INTO app.child (id, parent_id) VALUES (10, 99)").status != 0, "foreign key to parent")
        #expect(try pg.psql(db, "INSERT INTO app.child (id, email) VALUES (10, 'a@X.ORG')").status != 0, "NOCASE unique")
        #expect(try pg.psql(db, "INSERT INTO app.parent (id, code, a, b) VALUES (9, 'P9', 1, 1)").status != 0, "UNIQUE (a, b)")
        #expect(try pg.psql(db, "BEGIN; INSERT INTO app.child (id, self_id) VALUES (20, 21); INSERT INTO app.child (id) VALUES (21); COMMIT").status == 0,
                "DEFERRABLE INITIALLY DEFERRED: checked at commit")
        try pg.script(db, "INSERT INTO app.child (id, parent_id) VALUES (30, 2)")
        #expect(try pg.rows(db, "SELECT qty, price, flag, created ~ '^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d$', day = (now() AT TIME ZONE 'UTC')::date FROM app.child WHERE id = 30")
                == [["0", "4.99", "t", "t", "t"]], "defaults")
        try pg.script(db, "INSERT INTO app.parent (id, code) VALUES (5, 'P5'); INSERT INTO app.child (id, parent_id) VALUES (31, 5); DELETE FROM app.parent WHERE id = 5")
        #expect(try pg.value(db, "SELECT count(*) FROM app.child WHERE id = 31") == "0", "ON DELETE CASCADE")
        #expect(try pg.value(db, "SELECT n FROM app.parent_children WHERE \"Code\" = 'P1'") == "2", "a view over a view")
    }

    /// Data that violates constraints SQLite did not enforce (foreign keys off, CHECKs ignored) or
    /// compares differently (NOCASE vs lower()): stop leaves nothing, widen leaves them out (a
    /// foreign key NOT VALID), reject is refused for constraints.
    @Test func violatedConstraintsFollowOnMismatch() throws {
        let (pg, dbs, db, dir, path) = try setUp("viol", extra: """
            INSERT INTO child (id, parent_id, qty) VALUES (50, 987654, 1);
            PRAGMA ignore_check_constraints = ON;
            INSERT INTO child (id, qty) VALUES (51, -5);
            INSERT INTO child (id, email) VALUES (52, 'É@x.org'), (53, 'é@x.org');
            """)
        defer { dbs.drop(); withExtendedLifetime(dir) {} }

        let stop = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app"])
        #expect(stop.status == 79, "stop: \(stop.status) \(stop.stderr)")
        #expect(stop.stderr.contains("foreign key child_parent_id_fkey of child: the data violates it"), "\(stop.stderr)")
        #expect(stop.stderr.contains("check child_1_check of child"), "\(stop.stderr)")
        #expect(stop.stderr.contains("unique child_email_key of child"), "\(stop.stderr)")
        #expect(!(try pg.userSchemas(db)).contains("app"), "stop left a schema")
        expectNoValue("987654", in: stop, "a violating value")

        let reject = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--on-mismatch", "reject"])
        #expect(reject.status == 79 && reject.stderr.contains("reject applies to values, not to constraints"), "\(reject.stderr)")

        let widen = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--on-mismatch", "widen", "--json"])
        try expectMigrated(widen)
        let statuses = Dictionary(((try migrateReport(widen))["schemaObjects"] as? [[String: Any]] ?? []).compactMap { o -> (String, String)? in
            guard let kind = o["kind"] as? String, kind != "default", let name = o["name"] as? String, let status = o["status"] as? String else { return nil }
            return (name, status)
        }, uniquingKeysWith: { first, _ in first })
        #expect(statuses["child_parent_id_fkey"]?.hasPrefix("added NOT VALID") == true, "\(statuses["child_parent_id_fkey"] ?? "none")")
        #expect(statuses["child_1_check"]?.hasPrefix("left out: the data violates it") == true)
        #expect(statuses["child_email_key"]?.hasPrefix("left out: the data violates it") == true)
        #expect(statuses["short_note"] == "added")
        #expect(try pg.value(db, "SELECT convalidated FROM pg_constraint WHERE conname = 'child_parent_id_fkey'") == "f")
        #expect(try pg.value(db, "SELECT count(*) FROM pg_constraint WHERE conname = 'child_1_check'") == "0")
        #expect(try pg.value(db, "SELECT count(*) FROM app.child") == "7")
    }

    /// --plan reads, decides and writes nothing; a run afterwards creates exactly the types and
    /// statements it showed.
    @Test func thePlanWritesNothingAndMatchesTheRun() throws {
        let (pg, dbs, db, dir, path) = try setUp("plan")
        defer { dbs.drop(); withExtendedLifetime(dir) {} }
        try pg.script(db, "CREATE TABLE public.keep (id int); INSERT INTO public.keep VALUES (1)")
        let before = try pg.schemaDump(db)
        let plan = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--plan", "--json"])
        try expectMigrated(plan)
        #expect(try pg.schemaDump(db) == before, "--plan changed the database")
        #expect(!(try pg.userSchemas(db)).contains { $0.hasPrefix("ehrdata_staging") || $0 == "app" })
        let planned = try migrateReport(plan)
        #expect(planned["plan"] as? Bool == true)
        let text = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--plan"])
        #expect(text.status == 0 && text.stdout.contains("nothing was written") && text.stdout.contains("CREATE TABLE \"app\".\"child\""), "\(text.stdout)")
        #expect(text.stdout.contains("trigger child_touch on child"), "the plan lists what is not carried over")

        let run = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--json"])
        try expectMigrated(run)
        let done = try migrateReport(run)
        func types(_ report: [String: Any]) -> [String: String] {
            var out: [String: String] = [:]
            for (table, t) in reportTables(report) {
                for c in t["columns"] as? [[String: Any]] ?? [] { out["\(table).\(c["name"] as? String ?? "")"] = c["type"] as? String }
            }
            return out
        }
        #expect(types(planned) == types(done))
        // As format_type spells them.
        let spelled = types(done).mapValues { t in
            ["timestamp": "timestamp without time zone", "timestamptz": "timestamp with time zone", "time": "time without time zone"][t]
                ?? t.replacingOccurrences(of: "varchar(", with: "character varying(")
        }
        #expect(spelled == (try pg.columnTypes(db, schema: "app")))
        #expect(planned["ddl"] as? [String] == done["ddl"] as? [String], "the plan's statements are the run's")
    }

    /// --table: a subset with its foreign keys' targets migrates with parity; one without them
    /// is refused, naming the key; a later subset may reference tables already in the target.
    @Test func aSubsetOfTables() throws {
        let (pg, dbs, db, dir, path) = try setUp("subset")
        defer { dbs.drop(); withExtendedLifetime(dir) {} }
        let alone = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--table", "child"])
        #expect(alone.status == 64 && alone.stderr.contains("child → parent"), "\(alone.status) \(alone.stderr)")
        #expect(!(try pg.userSchemas(db)).contains("app"))

        let first = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--table", "parent", "--json"])
        try expectMigrated(first)
        #expect(Set(reportTables(try migrateReport(first)).keys) == ["parent"])
        let second = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--table", "child", "--json"])
        try expectMigrated(second)
        #expect((reportTables(try migrateReport(second))["child"]?["parity"] as? String) == "ok")
        #expect(try pg.value(db, "SELECT count(*) FROM pg_constraint WHERE conname = 'child_parent_id_fkey' AND confrelid = 'app.parent'::regclass") == "1")
        #expect(try pg.value(db, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'app'") == "child,parent")
        let again = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "app", "--table", "parent"])
        #expect(again.status == 73, "a chosen table already in the target: \(again.status) \(again.stderr)")
    }
}
