import EHRTestSupport
import Foundation
import Testing

/// The EHR fixture migrated: parity per table, row counts as sqlite3 counts them, identities that
/// continue; and a copy with text in a REAL column under each `--on-mismatch`.
@Suite struct MigrateEHRTests {
    static let tables = ["documents", "encounters", "medications", "notes", "observations", "patients"]

    /// sqlite3's row count of every table.
    static func sqliteCounts(_ path: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for t in tables { out[t] = try sqliteValue(path, "SELECT count(*) FROM \(t)") }
        return out
    }

    static func postgresCounts(_ pg: PGServer, _ db: String, schema: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for t in tables { out[t] = try pg.value(db, "SELECT count(*) FROM \(schema).\(t)") }
        return out
    }

    /// Every row of patients (all text but the id) as sqlite3 prints it, NULL spelled '<null>'.
    static func sqlitePatients(_ path: String) throws -> [[String]] {
        let r = try Run.sqlite3(path, ".nullvalue <null>\n.separator \"\u{1F}\" \"\u{1E}\"\n"
                                    + "SELECT id, mrn, given_name, family_name, birth_date, sex, address, phone FROM patients ORDER BY id;\n")
        try #require(r.status == 0, "sqlite3: \(r.stderr)")
        var out = r.stdout
        if out.hasSuffix("\u{1E}") { out.removeLast() }
        return out.split(separator: "\u{1E}", omittingEmptySubsequences: false)
            .map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test func fixtureMigratesWithParity() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("ehr")
        let dir = TempDirectory("ehrdata-mige")
        let path = dir.file("ehr.sqlite")
        try copyEHRFixture(to: path)

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--json", "--report", dir.file("report.json")])
        try expectMigrated(r)
        let report = try migrateReport(r)
        #expect(report["schema"] as? String == "public")
        let reported = reportTables(report)
        #expect(Set(reported.keys) == Set(Self.tables))
        let counts = try Self.sqliteCounts(path)
        for t in Self.tables {
            #expect(reported[t]?["parity"] as? String == "ok", "\(t): parity \(reported[t]?["parity"] ?? "none")")
            #expect(jsonText(reported[t]?["rowsLoaded"]) == counts[t], "\(t): loaded \(reported[t]?["rowsLoaded"] ?? "?"), sqlite3 counts \(counts[t] ?? "?")")
            #expect(jsonText(reported[t]?["rowsRejected"]) == "0")
        }
        #expect(try Self.postgresCounts(pg, db, schema: "public") == counts)
        // The same report in the file.
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("report.json")))) as? [String: Any]
        #expect(reportTables(file ?? [:]).mapValues { $0["parity"] as? String } == reported.mapValues { $0["parity"] as? String })

        // Content, independently of ehrdata: every patient row as sqlite3 and psql print it.
        let fromPG = try pg.rows(db, """
            SELECT id, mrn, given_name, family_name, birth_date, sex, coalesce(address, '<null>'), coalesce(phone, '<null>')
            FROM public.patients ORDER BY id
            """)
        #expect(fromPG == (try Self.sqlitePatients(path)))
        for (sqliteValueText, pgValueText) in [("9e999", "'Infinity'"), ("-9e999", "'-Infinity'"), ("0.1", "0.1"), ("5e-324", "5e-324"),
                                               ("1.7976931348623157e308", "1.7976931348623157e308")] {
            let inSQLite = try sqliteValue(path, "SELECT count(*) FROM observations WHERE value_num = \(sqliteValueText)")
            #expect(inSQLite != "0")
            #expect(try pg.value(db, "SELECT count(*) FROM public.observations WHERE value_num = \(pgValueText)") == inSQLite,
                    "observations with value_num \(sqliteValueText)")
        }
        #expect(try pg.value(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.observations'::regclass AND attname = 'value_num'")
                == "double precision")

        // A new row without an id gets the next one.
        let highest = try sqliteValue(path, "SELECT max(id) FROM patients")
        let next = try pg.value(db, "INSERT INTO public.patients (mrn, given_name, family_name, birth_date, sex) VALUES ('new', 'a', 'b', '2000-01-01', 'F') RETURNING id")
        #expect(Int64(next) == Int64(highest)! + 1, "next id \(next) after \(highest)")
        let highestNote = try sqliteValue(path, "SELECT max(id) FROM notes")
        let nextNote = try pg.value(db, "INSERT INTO public.notes (encounter_id, author, written_at, body) SELECT encounter_id, author, written_at, body FROM public.notes LIMIT 1 RETURNING id")
        #expect(Int64(nextNote) == Int64(highestNote)! + 1)
    }

    /// A copy of the fixture with 'n/a-SECRET-7' in three rows of observations.value_num (a REAL
    /// column); returns its path and the ids of those rows.
    static func fixtureWithText(in dir: TempDirectory) throws -> (String, [String]) {
        let path = dir.file("na.sqlite")
        try copyEHRFixture(to: path)
        try makeSQLite(path, """
            UPDATE observations SET value_num = 'n/a-SECRET-7'
            WHERE id IN (SELECT id FROM observations WHERE value_num IS NOT NULL ORDER BY id LIMIT 3 OFFSET 10);
            """)
        let ids = try sqliteValue(path, "SELECT group_concat(id) FROM (SELECT id FROM observations WHERE typeof(value_num) = 'text' ORDER BY id)")
            .split(separator: ",").map(String.init)
        try #require(ids.count == 3)
        return (path, ids)
    }

    static let secret = "SECRET-7"

    @Test func textInARealColumnStops() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("na_stop")
        let dir = TempDirectory("ehrdata-mige")
        let (path, _) = try Self.fixtureWithText(in: dir)
        try pg.script(db, "CREATE SCHEMA app;")
        let dumpBefore = try pg.schemaDump(db), relationsBefore = try pg.userRelations(db)

        for schema in ["app", "fresh"] {
            let r = try migrate(["--from", path, "--to", pg.connection(db), "--schema", schema, "--report", dir.file("r.txt")])
            expectFailure(r, code: 79, mentions: ["observations.value_num", "3 text values", "--on-mismatch"])
            expectNoValue(Self.secret, in: r, "stop")
            expectNoValue("n/a", in: r, "stop")
        }
        #expect(try pg.schemaDump(db) == dumpBefore)
        #expect(try pg.userRelations(db) == relationsBefore)
        #expect(try pg.userSchemas(db) == ["app", "public"])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix("na.sqlite") }
        #expect(left.isEmpty, "files left beside the report: \(left)")
    }

    @Test func textInARealColumnWidened() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("na_widen")
        let dir = TempDirectory("ehrdata-mige")
        let (path, ids) = try Self.fixtureWithText(in: dir)

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--on-mismatch", "widen", "--report", dir.file("report.txt")])
        try expectMigrated(r)
        expectNoValue(Self.secret, in: r, "widen")
        let text = try String(contentsOfFile: dir.file("report.txt"), encoding: .utf8)
        #expect(!text.contains(Self.secret), "the text report shows the value")
        #expect(text.contains("observations.value_num: REAL -> text"), "the report does not show the widening: \(text)")
        #expect(text.contains("parity proven"))

        #expect(try pg.value(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.observations'::regclass AND attname = 'value_num'")
                == "text")
        #expect(try Self.postgresCounts(pg, db, schema: "public") == (try Self.sqliteCounts(path)))
        #expect(try pg.rows(db, "SELECT id FROM public.observations WHERE value_num = 'n/a-SECRET-7' ORDER BY id").map { $0[0] } == ids)
        // The REALs beside the text, in their shortest exact form.
        let real = try sqliteValue(path, "SELECT id FROM observations WHERE value_num = 0.1 LIMIT 1")
        #expect(try pg.value(db, "SELECT value_num FROM public.observations WHERE id = \(real)") == "0.1")
        let inf = try sqliteValue(path, "SELECT id FROM observations WHERE value_num = 9e999 LIMIT 1")
        #expect(try pg.value(db, "SELECT value_num FROM public.observations WHERE id = \(inf)") == "Infinity")
    }

    @Test func textInARealColumnRejected() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let db = try dbs.create("na_reject")
        let dir = TempDirectory("ehrdata-mige")
        let (path, ids) = try Self.fixtureWithText(in: dir)
        let reports = dir.file("reports")
        try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: false)
        let elsewhere = TempDirectory("ehrdata-mige-cwd")

        let r = try migrate(["--from", path, "--to", pg.connection(db), "--on-mismatch", "reject", "--json",
                             "--report", reports + "/migrate.json"], directory: elsewhere.path)
        try expectMigrated(r)
        expectNoValue(Self.secret, in: r, "reject")
        let report = try migrateReport(r)
        let observations = try #require(reportTables(report)["observations"])
        #expect(jsonText(observations["rowsRejected"]) == "3")
        #expect(observations["parity"] as? String == "ok")
        let counts = try Self.sqliteCounts(path)
        #expect(jsonText(observations["rowsLoaded"]) == String(Int(counts["observations"]!)! - 3))
        var expected = counts
        expected["observations"] = String(Int(counts["observations"]!)! - 3)
        #expect(try Self.postgresCounts(pg, db, schema: "public") == expected)
        #expect(try pg.value(db, "SELECT count(*) FROM public.observations WHERE id IN (\(ids.joined(separator: ",")))") == "0")
        #expect(try pg.value(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.observations'::regclass AND attname = 'value_num'")
                == "double precision")

        // The reject file: beside --report, 0600, one JSON object per rejected row.
        let rejectPath = try #require(report["rejectFile"] as? String, "no rejectFile in the report")
        #expect((rejectPath as NSString).deletingLastPathComponent == reports)
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path).isEmpty)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: rejectPath)[.posixPermissions] as? NSNumber)
        #expect(mode.intValue & 0o777 == 0o600, "reject file mode \(String(mode.intValue, radix: 8))")
        let lines = try String(contentsOfFile: rejectPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        var rejectedIDs: [String] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["table"] as? String == "observations")
            #expect(object["column"] as? String == "value_num")
            let values = try #require(object["values"] as? [String: Any])
            #expect(values["value_num"] as? String == "n/a-SECRET-7")
            if let id = jsonText(values["id"]) { rejectedIDs.append(id) }
        }
        #expect(rejectedIDs.sorted() == ids.sorted())
    }
}
