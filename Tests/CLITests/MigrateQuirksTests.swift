import EHRTestSupport
import Foundation
import Testing

/// A SQLite database of the quirks real applications leave behind, migrated: every column's
/// PostgreSQL type (from pg_attribute) and chosen values (read back with psql) as the issue says.
@Suite struct MigrateQuirksTests {
    /// The quirks that migrate under `--on-mismatch stop`. `big` is filled from two files by the
    /// caller (readfile), so the test knows their bytes.
    static let quirksSQL = """
        CREATE TABLE "MixedCase Table" ("Id" INTEGER PRIMARY KEY, "Given Name" TEXT, "select" INTEGER, "order" TEXT);
        INSERT INTO "MixedCase Table" VALUES (1, 'Zoë', 5, 'first'), (2, '漢字 🙂 e\u{301}', 6, '');
        CREATE TABLE [weird name] ([col one] TEXT, [x] INT);
        INSERT INTO [weird name] VALUES ('a', 1), (NULL, 2);
        CREATE TABLE "select" ("from" TEXT);
        INSERT INTO "select" VALUES ('where');
        CREATE TABLE composite (a INTEGER NOT NULL, b TEXT NOT NULL, v REAL, PRIMARY KEY (a, b));
        INSERT INTO composite VALUES (1, 'x', 1.5), (1, 'y', -2.25), (2, 'x', NULL);
        CREATE TABLE norowid (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
        INSERT INTO norowid VALUES ('b', 2), ('a', 1);
        CREATE TABLE mixed (id INTEGER PRIMARY KEY, anything, anything2);
        INSERT INTO mixed VALUES (1, 42, 42), (2, 2.5, 2.5), (3, 'text', 'x'), (4, x'00ff', NULL), (5, NULL, NULL);
        CREATE TABLE dates (id INTEGER PRIMARY KEY, d DATE, dt DATETIME, dtz DATETIME, slashed DATE,
                            es DATETIME, ems DATETIME, compact DATE, t TIME);
        INSERT INTO dates VALUES (1, '1957-03-12', '2024-01-02T03:04:05', '2024-01-02T03:04:05Z', '03/12/1957',
                                  1700000000, 1700000000123, '19570312', '13:14:15');
        INSERT INTO dates VALUES (2, '2000-02-29', '2024-06-30 23:59:59.123456', '2024-06-30 12:00:00+02:00', '25/12/1960',
                                  0, 951782400000, '20000229', '00:00:00.5');
        INSERT INTO dates VALUES (3, NULL, '2024-03-10 02:30:00', '2024-12-31T23:00:00-05:00', NULL,
                                  -86400, -1000000000000, NULL, NULL);
        INSERT INTO dates VALUES (4, NULL, '1999-12-31', NULL, NULL, NULL, NULL, NULL, NULL);
        CREATE TABLE flags (id INTEGER PRIMARY KEY, b BOOLEAN);
        INSERT INTO flags VALUES (1, 0), (2, 1), (3, 'true'), (4, 'f'), (5, NULL);
        CREATE TABLE reals (id INTEGER PRIMARY KEY, r REAL);
        INSERT INTO reals VALUES (1, 9e999), (2, -9e999), (3, 0.1), (4, 1.7976931348623157e308), (5, 5e-324);
        CREATE TABLE strs (id INTEGER PRIMARY KEY, s TEXT, c CHAR(3), vc VARCHAR(3), vlong VARCHAR(3), money DECIMAL(10,2), bl BLOB);
        INSERT INTO strs VALUES (1, '', 'a', 'abc', 'abcdef', 19.99, 'text in blob'), (2, NULL, 'a  ', 'ab', 'x', 0.1, x'deadbeef'),
                                (3, 'x', NULL, NULL, NULL, 5, NULL);
        CREATE TABLE nums (id INTEGER PRIMARY KEY, n DECIMAL);
        INSERT INTO nums VALUES (1, 0.1), (2, 1e-300), (3, 5e-324), (4, 1.7976931348623157e308), (5, -0.0), (6, 9223372036854775807),
                                (7, -19.99), (8, 123456789.125), (9, 9e999), (10, -9e999);
        CREATE TABLE ints (id INTEGER PRIMARY KEY, s SMALLINT, i INT, j INT);
        INSERT INTO ints VALUES (1, -32768, 5, 7), (2, 32767, 3000000000, -2147483648);
        CREATE TABLE gen (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) STORED,
                          c TEXT GENERATED ALWAYS AS (upper(cast(a AS TEXT)) || 'x') VIRTUAL, r REAL, t TEXT,
                          d TEXT AS (hex(a)), e TEXT AS (CAST(r AS TEXT)) STORED, f INTEGER AS (CAST(t AS INTEGER)));
        INSERT INTO gen (id, a, r, t) VALUES (1, 3, 1.0, 'abc'), (2, NULL, NULL, NULL), (3, -4, 2.5, '7');
        CREATE TABLE auto (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
        INSERT INTO auto (v) VALUES ('a'), ('b'), ('c');
        DELETE FROM auto WHERE id = 3;
        UPDATE sqlite_sequence SET seq = 100 WHERE name = 'auto';
        CREATE TABLE auto_empty (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
        INSERT INTO auto_empty (v) VALUES ('1'), ('2'), ('3'), ('4'), ('5');
        DELETE FROM auto_empty;
        CREATE TABLE plain_ids (id INTEGER PRIMARY KEY, v TEXT);
        INSERT INTO plain_ids VALUES (7, 'a'), (41, 'b');
        CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB);
        CREATE TABLE desc_key (id INTEGER PRIMARY KEY DESC, v TEXT);
        INSERT INTO desc_key VALUES (3, 'a'), (1, 'b');
        CREATE TABLE desc_alias (id INTEGER, v TEXT, PRIMARY KEY (id DESC));
        INSERT INTO desc_alias VALUES (3, 'a');
        CREATE TABLE odd_lengths (a VARCHAR(0), b CHAR(20000000));
        INSERT INTO odd_lengths VALUES ('abc', 'def');
        """

    /// What `--on-mismatch stop` refuses: a NUL in text, a NULL in a text PRIMARY KEY, a
    /// column where only some date-times carry an offset. Each holds a value the output must
    /// never show.
    static let problemSQL = """
        CREATE TABLE nul (id INTEGER PRIMARY KEY, t TEXT);
        INSERT INTO nul VALUES (1, 'fine'), (2, 'SECRET-NUL' || char(0) || 'tail');
        CREATE TABLE tk (k TEXT PRIMARY KEY, v INTEGER);
        INSERT INTO tk VALUES ('SECRET-KEY-a', 1), (NULL, 2), ('b', 3);
        CREATE TABLE badutf (id INTEGER PRIMARY KEY, t TEXT);
        INSERT INTO badutf VALUES (1, CAST(X'FF41' AS TEXT)), (2, 'ok');
        CREATE TABLE desc_text (id INTEGER PRIMARY KEY DESC, v TEXT);
        INSERT INTO desc_text VALUES (1, 'a'), ('SECRET-id', 'b');
        CREATE TABLE tz (id INTEGER PRIMARY KEY, at DATETIME);
        INSERT INTO tz VALUES (1, '2024-01-02T03:04:05Z'), (2, '2024-01-02 03:04:05');
        """

    /// The type of every column of the quirks tables, as format_type prints it.
    static let expectedTypes: [String: String] = [
        "MixedCase Table.Id": "bigint", "MixedCase Table.Given Name": "text", "MixedCase Table.select": "bigint",
        "MixedCase Table.order": "text",
        "weird name.col one": "text", "weird name.x": "integer",
        "select.from": "text",
        "composite.a": "bigint", "composite.b": "text", "composite.v": "double precision",
        "norowid.k": "text", "norowid.v": "bigint",
        "mixed.id": "bigint", "mixed.anything": "bytea", "mixed.anything2": "text",
        "dates.id": "bigint", "dates.d": "date", "dates.dt": "timestamp without time zone",
        "dates.dtz": "timestamp with time zone", "dates.slashed": "date", "dates.es": "timestamp without time zone",
        "dates.ems": "timestamp without time zone", "dates.compact": "date", "dates.t": "time without time zone",
        "flags.id": "bigint", "flags.b": "boolean",
        "reals.id": "bigint", "reals.r": "double precision",
        "strs.id": "bigint", "strs.s": "text", "strs.c": "character varying(3)", "strs.vc": "character varying(3)",
        "strs.vlong": "text", "strs.money": "numeric(10,2)", "strs.bl": "bytea",
        "nums.id": "bigint", "nums.n": "numeric",
        "ints.id": "bigint", "ints.s": "smallint", "ints.i": "bigint", "ints.j": "integer",
        "gen.id": "bigint", "gen.a": "bigint", "gen.b": "bigint", "gen.c": "text",
        "gen.r": "double precision", "gen.t": "text", "gen.d": "text", "gen.e": "text", "gen.f": "bigint",
        "auto.id": "bigint", "auto.v": "text", "auto_empty.id": "bigint", "auto_empty.v": "text",
        "plain_ids.id": "bigint", "plain_ids.v": "text",
        "big.id": "bigint", "big.data": "bytea",
        "desc_key.id": "bigint", "desc_key.v": "text", "desc_alias.id": "bigint", "desc_alias.v": "text",
        "odd_lengths.a": "text", "odd_lengths.b": "text",
    ]

    /// The problem tables' types under `--on-mismatch widen`.
    static let widenedProblemTypes: [String: String] = [
        "nul.id": "bigint", "nul.t": "bytea", "tk.k": "text", "tk.v": "bigint", "tz.id": "bigint", "tz.at": "text",
        "desc_text.id": "text", "desc_text.v": "text", "badutf.id": "bigint", "badutf.t": "bytea",
    ]

    /// The quirks database in `dir`, with the problem tables when `problems`. Returns its path
    /// and the SHA-256 (sha256sum) of the two large BLOBs.
    static func makeQuirks(in dir: TempDirectory, problems: Bool) throws -> (path: String, blobSums: [String]) {
        let random = dir.file("random.bin"), zeros = dir.file("zeros.bin")
        var bytes = [UInt8](repeating: 0, count: 3_000_000)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0 ... 255) }
        try Data(bytes).write(to: URL(fileURLWithPath: random))
        try Data(count: 5_000_000).write(to: URL(fileURLWithPath: zeros))
        let path = dir.file("quirks.sqlite")
        try makeSQLite(path, quirksSQL + (problems ? problemSQL : "") + """

            INSERT INTO big VALUES (1, readfile('\(random)')), (2, readfile('\(zeros)'));
            """)
        var sums: [String] = []
        for file in [random, zeros] {
            let r = try Run.program("/usr/bin/sha256sum", [file])
            try #require(r.status == 0)
            sums.append(String(r.stdout.prefix(64)))
        }
        // SQLite's NUMERIC affinity made the YYYYMMDD texts integers: the case under test.
        try #require(try sqliteValue(path, "SELECT group_concat(typeof(compact)) FROM dates WHERE compact IS NOT NULL") == "integer,integer")
        try #require(try sqliteValue(path, "SELECT seq FROM sqlite_sequence WHERE name = 'auto_empty'") == "5")
        return (path, sums)
    }

    /// Migrated under stop: every type, and the values that show a wrong reading.
    @Test func everyQuirkArrivesWithItsTypeAndValue() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("quirks")
        let dir = TempDirectory("ehrdata-migq")
        let (path, sums) = try Self.makeQuirks(in: dir, problems: false)

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "Quirks Schema", "--json"])
        try expectMigrated(r)
        let report = try migrateReport(r)
        let tables = reportTables(report)
        #expect(Set(tables.keys) == Set(Self.expectedTypes.keys.map { String($0.split(separator: ".")[0]) }))
        for (name, t) in tables { #expect(t["parity"] as? String == "ok", "parity of \(name): \(t["parity"] ?? "none")") }

        try Self.expectQuirks(pg, db, schema: "Quirks Schema", blobSums: sums)
        // Generated columns whose expression translates and gives SQLite's value on every row are
        // generated in PostgreSQL too; the others are plain ones holding SQLite's values, each with
        // its reason.
        let genColumns = (tables["gen"]?["columns"] as? [[String: Any]]) ?? []
        let generated = genColumns.filter { $0["generated"] is String }.compactMap { $0["name"] as? String }
        #expect(generated.sorted() == ["b", "c"], "generated in PostgreSQL: \(generated)")
        let reasons = Dictionary(uniqueKeysWithValues: genColumns.compactMap { c -> (String, String)? in
            guard let name = c["name"] as? String, let w = (c["warnings"] as? [String])?.first(where: { $0.contains("generated column") }) else { return nil }
            return (name, w)
        })
        #expect(reasons["d"]?.contains("does not translate (the function hex()") == true, "d: \(reasons["d"] ?? "no warning")")
        #expect(reasons["e"]?.contains("other values than SQLite's on 1 rows") == true, "e: \(reasons["e"] ?? "no warning")")
        #expect(reasons["f"]?.contains("cannot evaluate") == true, "f: \(reasons["f"] ?? "no warning")")
        #expect(Set(reasons.keys) == ["d", "e", "f"])
        let kinds = try pg.rows(db, """
            SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = '"Quirks Schema".gen'::regclass AND attnum > 0 ORDER BY attnum
            """).map { "\($0[0]).\($0[1])" }
        #expect(kinds == ["id.", "a.", "b.s", "c.s", "r.", "t.", "d.", "e.", "f."])
        // PostgreSQL computes them for new rows as SQLite would.
        try pg.script(db, #"INSERT INTO "Quirks Schema".gen (a) VALUES (21)"#)
        #expect(try pg.value(db, #"SELECT b || ' ' || c FROM "Quirks Schema".gen WHERE a = 21"#) == "42 21x")
    }

    static func expectQuirks(_ pg: PGServer, _ db: String, schema s: String, blobSums: [String]) throws {
        let types = try pg.columnTypes(db, schema: s)
        for (column, type) in expectedTypes.sorted(by: { $0.key < $1.key }) {
            #expect(types[column] == type, "\(column): \(types[column] ?? "missing"), expected \(type)")
        }
        let q = "\"\(s)\""
        func rows(_ sql: String) throws -> [[String]] { try pg.rows(db, sql) }

        // Names exactly as SQLite spells them.
        #expect(try rows("SELECT \"Id\", \"Given Name\", \"select\", \"order\" FROM \(q).\"MixedCase Table\" ORDER BY 1")
                == [["1", "Zoë", "5", "first"], ["2", "漢字 🙂 e\u{301}", "6", ""]])
        #expect(try rows("SELECT coalesce(\"col one\", '<null>'), x FROM \(q).\"weird name\" ORDER BY x") == [["a", "1"], ["<null>", "2"]])
        #expect(try rows("SELECT \"from\" FROM \(q).\"select\"") == [["where"]])

        // Keys: the composite one, the WITHOUT ROWID one, the rowid aliases as identities.
        let keys = try rows("""
            SELECT c.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            WHERE k.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = \(literal(s))) AND k.contype = 'p' ORDER BY 1
            """)
        let keyOf = Dictionary(uniqueKeysWithValues: keys.map { ($0[0], $0[1]) })
        #expect(keyOf["composite"] == "PRIMARY KEY (a, b)")
        #expect(keyOf["norowid"] == "PRIMARY KEY (k)")
        #expect(keyOf["MixedCase Table"] == "PRIMARY KEY (\"Id\")")
        #expect(keyOf["weird name"] == nil && keyOf["select"] == nil)
        #expect(keyOf["desc_key"] == "PRIMARY KEY (id)")
        #expect(try rows("SELECT id, v FROM \(q).desc_key ORDER BY id") == [["1", "b"], ["3", "a"]])
        #expect(try rows("SELECT a, b FROM \(q).odd_lengths") == [["abc", "def"]])
        let identities = try rows("""
            SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = \(literal(s))) AND a.attidentity = 'd' ORDER BY 1
            """).map { $0[0] }.filter { expectedTypes[$0] != nil }
        #expect(identities == ["MixedCase Table.Id", "auto.id", "auto_empty.id", "big.id", "dates.id", "desc_alias.id", "flags.id", "gen.id",
                               "ints.id", "mixed.id", "nums.id", "plain_ids.id", "reals.id", "strs.id"])

        // Several storage classes in one untyped column: bytea with BLOBs present, else text.
        #expect(try rows("SELECT id, coalesce(encode(anything, 'hex'), '<null>'), coalesce(anything2, '<null>') FROM \(q).mixed ORDER BY id")
                == [["1", "3432", "42"], ["2", "322e35", "2.5"], ["3", "74657874", "x"], ["4", "00ff", "<null>"], ["5", "<null>", "<null>"]])

        // Dates: never read in New York's zone (2024-03-10 02:30 does not exist there).
        #expect(try rows("SELECT id, d::text, dt::text, slashed::text, compact::text, t::text FROM \(q).dates WHERE id <= 2 ORDER BY id")
                == [["1", "1957-03-12", "2024-01-02 03:04:05", "1957-12-03", "1957-03-12", "13:14:15"],
                    ["2", "2000-02-29", "2024-06-30 23:59:59.123456", "1960-12-25", "2000-02-29", "00:00:00.5"]])
        #expect(try rows("SELECT dt::text FROM \(q).dates WHERE id >= 3 ORDER BY id") == [["2024-03-10 02:30:00"], ["1999-12-31 00:00:00"]])
        let utc = "'YYYY-MM-DD HH24:MI:SS.US'"
        #expect(try rows("SET TIME ZONE 'UTC'; SELECT id, to_char(dtz, \(utc)), to_char(es, \(utc)), to_char(ems, \(utc)) FROM \(q).dates WHERE id <= 3 ORDER BY id")
                == [["1", "2024-01-02 03:04:05.000000", "2023-11-14 22:13:20.000000", "2023-11-14 22:13:20.123000"],
                    ["2", "2024-06-30 10:00:00.000000", "1970-01-01 00:00:00.000000", "2000-02-29 00:00:00.000000"],
                    ["3", "2025-01-01 04:00:00.000000", "1969-12-31 00:00:00.000000", "1938-04-24 22:13:20.000000"]])
        #expect(try pg.value(db, "SELECT extract(epoch FROM es)::bigint || ' ' || (extract(epoch FROM ems) * 1000)::bigint FROM \(q).dates WHERE id = 1")
                == "1700000000 1700000000123")

        #expect(try rows("SELECT id, coalesce(b::text, '<null>') FROM \(q).flags ORDER BY id")
                == [["1", "false"], ["2", "true"], ["3", "true"], ["4", "false"], ["5", "<null>"]])
        #expect(try rows("SELECT id, r::text FROM \(q).reals ORDER BY id")
                == [["1", "Infinity"], ["2", "-Infinity"], ["3", "0.1"], ["4", "1.7976931348623157e+308"], ["5", "5e-324"]])

        // NULL vs '', CHAR(n) trailing blanks kept distinct, money exact, BLOB holding text.
        #expect(try rows("SELECT id, coalesce(s, '<null>'), coalesce(c || '|', '<null>'), coalesce(money::text, '<null>'), coalesce(encode(bl, 'escape'), '<null>') FROM \(q).strs ORDER BY id")
                == [["1", "", "a|", "19.99", "text in blob"], ["2", "<null>", "a  |", "0.10", "\\336\\255\\276\\357"],
                    ["3", "x", "<null>", "5.00", "<null>"]])
        #expect(try pg.value(db, "SELECT count(DISTINCT c) FROM \(q).strs") == "2")
        #expect(try pg.value(db, "SELECT money = 19.99 FROM \(q).strs WHERE id = 1") == "t")
        #expect(try pg.value(db, "SELECT vlong FROM \(q).strs WHERE id = 1") == "abcdef")

        // Unconstrained DECIMAL from REALs: each value's shortest round-trip decimal, exactly.
        let nums = try rows("SELECT id, n::text FROM \(q).nums ORDER BY id").map { $0[1] }
        #expect(nums == ["0.1", "0." + String(repeating: "0", count: 299) + "1", "0." + String(repeating: "0", count: 323) + "5",
                         "17976931348623157" + String(repeating: "0", count: 292), "0", "9223372036854775807", "-19.99", "123456789.125",
                         "Infinity", "-Infinity"])
        #expect(try rows("SELECT s, i, j FROM \(q).ints ORDER BY id") == [["-32768", "5", "7"], ["32767", "3000000000", "-2147483648"]])

        // Generated columns hold SQLite's values.
        #expect(try rows("SELECT id, coalesce(a::text, '<null>'), coalesce(b::text, '<null>'), coalesce(c, '<null>') FROM \(q).gen ORDER BY id")
                == [["1", "3", "6", "3x"], ["2", "<null>", "<null>", "<null>"], ["3", "-4", "-8", "-4x"]])
        #expect(try rows("SELECT coalesce(d, '<null>'), coalesce(e, '<null>'), coalesce(f::text, '<null>') FROM \(q).gen ORDER BY id")
                == [["33", "1.0", "0"], ["", "<null>", "<null>"], ["2D34", "2.5", "7"]])

        // Large BLOBs, byte for byte.
        #expect(try rows("SELECT id, length(data), encode(sha256(data), 'hex') FROM \(q).big ORDER BY id")
                == [["1", "3000000", blobSums[0]], ["2", "5000000", blobSums[1]]])

        // Identities continue: after sqlite_sequence (past the highest id, and for a table that
        // never kept a row), after the highest id otherwise.
        #expect(try pg.value(db, "INSERT INTO \(q).auto (v) VALUES ('new') RETURNING id") == "101")
        #expect(try pg.value(db, "INSERT INTO \(q).auto_empty (v) VALUES ('new') RETURNING id") == "6")
        #expect(try pg.value(db, "INSERT INTO \(q).plain_ids (v) VALUES ('new') RETURNING id") == "42")
        #expect(try pg.value(db, "INSERT INTO \(q).\"MixedCase Table\" (\"Given Name\") VALUES ('new') RETURNING \"Id\"") == "3")
    }

    /// The problems refused under stop (79, each named, no value shown, nothing in the target),
    /// then migrated with widen: the NUL as bytea, the mixed offsets as text, the key left out
    /// and reported. The other quirks arrive as under stop.
    @Test func problemsRefusedThenWidened() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("problems")
        let dir = TempDirectory("ehrdata-migq")
        let (path, sums) = try Self.makeQuirks(in: dir, problems: true)
        let schemasBefore = try pg.userSchemas(db), relationsBefore = try pg.userRelations(db)

        let stop = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "quirks"])
        expectFailure(stop, code: 79, mentions: ["nul.t", "NUL", "tk", "primary key", "NULL", "tz.at", "offset", "desc_text.id", "badutf.t", "UTF-8"])
        for secret in ["SECRET", "tail", "Zoë", "漢字"] { expectNoValue(secret, in: stop, "stop") }
        let schemasAfter = try pg.userSchemas(db)
        #expect(schemasAfter == schemasBefore, "a refused migrate left schemas: \(schemasAfter)")
        #expect(try pg.userRelations(db) == relationsBefore, "a refused migrate left relations")

        let widen = try migrate(["--from", path, "--to", pg.connection(db), "--schema", "quirks", "--on-mismatch", "widen", "--json"])
        try expectMigrated(widen)
        expectNoValue("SECRET", in: widen, "widen")
        let report = try migrateReport(widen)
        let tables = reportTables(report)
        for (name, t) in tables { #expect(t["parity"] as? String == "ok", "parity of \(name)") }
        #expect(tables["tk"]?["primaryKey"] is NSNull || tables["tk"]?["primaryKey"] == nil)
        #expect((tables["tk"]?["warnings"] as? [String] ?? []).contains { $0.contains("primary key left out") },
                "the key left out is not reported: \(tables["tk"]?["warnings"] ?? "none")")

        try Self.expectQuirks(pg, db, schema: "quirks", blobSums: sums)
        let types = try pg.columnTypes(db, schema: "quirks")
        for (column, type) in Self.widenedProblemTypes { #expect(types[column] == type, "\(column): \(types[column] ?? "missing")") }
        #expect(try pg.rows(db, "SELECT id, encode(t, 'hex') FROM quirks.nul ORDER BY id")
                == [["1", "66696e65"], ["2", "5345435245542d4e554c007461696c"]])
        #expect(try pg.rows(db, "SELECT coalesce(k, '<null>'), v FROM quirks.tk ORDER BY v") == [["SECRET-KEY-a", "1"], ["<null>", "2"], ["b", "3"]])
        #expect(try pg.value(db, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'quirks.tk'::regclass AND contype = 'p'") == "0")
        #expect(try pg.rows(db, "SELECT id, encode(t, 'hex') FROM quirks.badutf ORDER BY id") == [["1", "ff41"], ["2", "6f6b"]])
        #expect(try pg.rows(db, "SELECT id, v FROM quirks.desc_text ORDER BY v") == [["1", "a"], ["SECRET-id", "b"]])
        #expect(try pg.rows(db, "SELECT at FROM quirks.tz ORDER BY id") == [["2024-01-02T03:04:05Z"], ["2024-01-02 03:04:05"]])
        #expect(try pg.userSchemas(db).filter { $0.hasPrefix("ehrdata_staging") }.isEmpty)
    }

    /// The NULL key with reject: the row goes to the reject file, the key is kept.
    @Test func nullKeyRowRejected() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("nullkey")
        let dir = TempDirectory("ehrdata-migq")
        let path = dir.file("k.sqlite")
        try makeSQLite(path, "CREATE TABLE tk (k TEXT PRIMARY KEY, v INTEGER); INSERT INTO tk VALUES ('a', 1), (NULL, 2), ('b', 3);")
        let r = try migrate(["--from", path, "--to", pg.connection(db), "--on-mismatch", "reject", "--report", dir.file("report.json"), "--json"])
        try expectMigrated(r)
        let tables = reportTables(try migrateReport(r))
        #expect(jsonText(tables["tk"]?["rowsRejected"]) == "1")
        #expect(try pg.rows(db, "SELECT k, v FROM public.tk ORDER BY v") == [["a", "1"], ["b", "3"]])
        #expect(try pg.value(db, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.tk'::regclass AND contype = 'p'")
                == "PRIMARY KEY (k)")
        let rejects = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("ehrdata-migrate-rejects-") }
        try #require(rejects.count == 1, "reject files in \(dir.path): \(rejects)")
        let line = try String(contentsOfFile: dir.file(rejects[0]), encoding: .utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["table"] as? String == "tk")
        #expect((object["values"] as? [String: Any])?["k"] is NSNull)
        #expect(jsonText((object["values"] as? [String: Any])?["v"]) == "2")
    }

    /// Two 64-character column names (and two table names) that are one name at 63 bytes:
    /// refused under every policy, naming both, before anything is written.
    @Test(arguments: ["stop", "widen", "reject"])
    func namesCollidingAt63BytesAreRefused(policy: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("collide")
        let dir = TempDirectory("ehrdata-migq")
        let path = dir.file("c.sqlite")
        let stem = String(repeating: "c", count: 63)
        let tableStem = String(repeating: "t", count: 63)
        try makeSQLite(path, """
            CREATE TABLE ok (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO ok VALUES (1, 'SECRET-ok');
            CREATE TABLE t (id INTEGER PRIMARY KEY, \(stem)a TEXT, \(stem)b TEXT); INSERT INTO t VALUES (1, 'SECRET-a', 'SECRET-b');
            CREATE TABLE \(tableStem)1 (v TEXT); CREATE TABLE \(tableStem)2 (v TEXT);
            """)
        let schemasBefore = try pg.userSchemas(db)
        let r = try migrate(["--from", path, "--to", pg.connection(db), "--on-mismatch", policy, "--report", dir.file("report.json")])
        expectFailure(r, code: 79, mentions: ["\(stem)a", "\(stem)b", "\(tableStem)1", "\(tableStem)2", "63"])
        expectNoValue("SECRET", in: r, "collision")
        #expect(try pg.userSchemas(db) == schemasBefore)
        let relations = try pg.userRelations(db)
        #expect(relations.isEmpty, "relations after a refused migrate: \(relations)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("report.json")))
        let rejectFiles = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("reject") }
        #expect(rejectFiles.isEmpty)
    }
}
