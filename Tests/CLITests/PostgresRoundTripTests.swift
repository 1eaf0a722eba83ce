import EHRTestSupport
import Foundation
import Testing

/// A PostgreSQL source goes through `ehrdata backup` and `restore --to-database` and comes back
/// identical by PostgreSQL's own account: pg_dump's schema, every table's ordered rows, every
/// sequence, and catalog state (invalid indexes, unpopulated materialized views, disabled
/// triggers) that a dump does not show.
@Suite struct PostgresRoundTripTests {
    /// The pagila corpus, under the shared directory (`../shared` beside the checkout, or
    /// `$EHRDATA_SHARED_DIR`). Missing, the test fails; it never skips.
    static func pagila(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let dir = Repository.sharedDirectory + "/corpus/pagila"
        for file in ["pagila-schema.sql", "pagila-data.sql"] {
            try #require(FileManager.default.isReadableFile(atPath: dir + "/" + file),
                         "no pagila corpus: \(dir)/\(file) is missing (shared directory \(Repository.sharedDirectoryOrigin))",
                         sourceLocation: sourceLocation)
        }
        return dir
    }

    /// Pagila: enums, domains, a partitioned `payment`, triggers (a BEFORE INSERT one on film),
    /// a never-refreshed materialized view, sequences; backed up together with the SQLite
    /// fixture into one snapshot.
    @Test func pagilaRoundTripsExactly() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let source = try dbs.create("pagila")
        let pagila = try Self.pagila()
        try pg.load(source, file: pagila + "/pagila-schema.sql")
        try pg.load(source, file: pagila + "/pagila-data.sql")
        try #require(try pg.value(source, "SELECT relispopulated FROM pg_class WHERE relname = 'rental_by_category'") == "f")

        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source))
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let id = try #require(try ws.snapshotIDs().first)
        #expect(try ws.snapshotIDs().count == 1, "both sources belong in one snapshot")
        #expect(try ws.run(["verify", id]).status == 0)

        let target = dbs.name("restored")
        let restore = try ws.run(["restore", id, "--source", "fhir", "--to-database", target, "--jobs", "2"])
        try #require(restore.status == 0, "restore failed: \(restore.stderr)")

        try pg.expectSameDatabase(source, target)
        // Restoring does not refresh a materialized view that was never populated.
        #expect(try pg.value(target, "SELECT relispopulated FROM pg_class WHERE relname = 'rental_by_category'") == "f")
        // The BEFORE INSERT trigger on film is there and enabled, and its column came back as
        // it was (a trigger that fired during the load would recompute it).
        #expect(try pg.value(target, "SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'film'::regclass AND tgname = 'film_fulltext_trigger'") == "O")
        #expect(try pg.value(target, "SELECT md5(string_agg(fulltext::text, ',' ORDER BY film_id)) FROM film")
                == (try pg.value(source, "SELECT md5(string_agg(fulltext::text, ',' ORDER BY film_id)) FROM film")))

        // The SQLite source of the same snapshot restores too.
        let sqlite = ws.dir.file("restored.sqlite")
        _ = try ws.ok(["restore", id, "--source", "backend", "--to", sqlite])
        #expect(try Run.dump(sqlite) == (try Run.dump(ws.source)))

        try expectPagilaManifest(ws, id, pg, source)
    }

    /// The manifest describes exactly the tables that have data: leaf partitions each with a
    /// file and their row count, the partitioned parent without a file, the sequences' positions
    /// and the materialized view's populated flag.
    func expectPagilaManifest(_ ws: Workspace, _ id: String, _ pg: PGServer, _ source: String) throws {
        let m = try ws.postgresManifest(id)
        for key in ["serverVersion", "snapshot", "walLSN", "tables", "sequences", "materializedViews"] {
            #expect(m.postgres[key] != nil, "manifest postgres object lacks '\(key)'")
        }
        let schemaFiles = m.files.filter { $0["role"] as? String == "postgres-schema" }
        #expect(schemaFiles.count == 1, "expected one postgres-schema file: \(m.files.map { $0["path"] ?? "" })")
        let tableFiles = m.files.filter { $0["role"] as? String == "postgres-table" }

        // Every plain table and leaf partition has exactly one data file, with its row count.
        let leaves = try pg.rows(source, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1")
            .map { $0[0] }
        let digests = try pg.tableDigests(source)
        #expect(leaves.count == 21)
        #expect(tableFiles.count == leaves.count, "one postgres-table file per table with rows: \(tableFiles.count) files, \(leaves.count) tables")
        var seenFiles = Set<String>()
        for name in leaves {
            let count = digests[name]?.split(separator: " ").first.map(String.init)
            guard let table = m.table(name) else {
                Issue.record("manifest lists no table \(name)")
                continue
            }
            #expect(PostgresManifest.rows(of: table) == count, "rows of \(name)")
            #expect((table["digest"] as? String).map { !$0.isEmpty } == true, "table \(name) has no digest")
            let entry = m.fileEntry(for: table)
            #expect(entry?["role"] as? String == "postgres-table", "table \(name): file \(table["file"] ?? "nil") is not a postgres-table file")
            if let path = entry?["path"] as? String {
                #expect(seenFiles.insert(path).inserted, "two tables share \(path)")
                #expect(path.hasPrefix("data/"))
            }
        }
        for month in 1...7 {
            let leaf = m.table(String(format: "payment_p2022_%02d", month))
            #expect(leaf.flatMap(PostgresManifest.fileName) != nil, "leaf partition payment_p2022_0\(month) has no file")
        }
        // The partitioned parent holds no rows itself: no file of its own.
        if let parent = m.table("payment") {
            #expect(PostgresManifest.fileName(of: parent) == nil, "the partitioned parent payment has a file: \(parent)")
        }

        // Sequences: the positions the source had (nothing wrote to it since).
        let sequences = try pg.sequenceStates(source)
        #expect(sequences.count == 13)
        for (qualified, state) in sequences {
            let name = String(qualified.dropFirst("public.".count))
            let parts = state.split(separator: " ").map(String.init)
            guard let entry = m.sequences.first(where: { $0["name"] as? String == name }) else {
                Issue.record("manifest lists no sequence \(name)")
                continue
            }
            #expect(entry["schema"] as? String == "public")
            #expect(jsonText(entry["lastValue"]) == parts[0], "lastValue of \(name)")
            #expect(jsonBool(entry["isCalled"]) == (parts[1] == "t"), "isCalled of \(name)")
        }

        let views = m.materializedViews.filter { $0["name"] as? String == "rental_by_category" }
        #expect(views.count == 1)
        #expect(views.first.flatMap { jsonBool($0["populated"]) } == false)
    }

    /// The types and objects an EHR database uses, each with the values that break naive copies.
    static let ehrSchema = """
        CREATE TYPE visit_kind AS ENUM ('inpatient', 'outpatient', 'emergency');
        CREATE DOMAIN mrn AS text CHECK (VALUE ~ '^MRN[0-9]{6}$');
        CREATE FUNCTION initials(name text) RETURNS text LANGUAGE sql IMMUTABLE
            AS $$ SELECT string_agg(left(part, 1), '' ORDER BY n) FROM regexp_split_to_table(name, ' ') WITH ORDINALITY AS p(part, n) $$;
        CREATE FUNCTION stamp_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.audit := coalesce(NEW.audit, '') || 'trigger fired;';
            RETURN NEW;
        END $$;

        CREATE TABLE patients (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            mrn mrn NOT NULL UNIQUE,
            name text NOT NULL,
            note text,
            kind visit_kind NOT NULL,
            data jsonb NOT NULL DEFAULT '{}',
            scores int[],
            tags text[],
            photo bytea,
            balance numeric(20,6),
            big numeric,
            seen_at timestamptz,
            name_length int GENERATED ALWAYS AS (char_length(name)) STORED,
            audit text,
            CONSTRAINT balance_sane CHECK (balance IS NULL OR balance > -1000000000)
        );
        CREATE TABLE encounters (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id bigint NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
            at timestamptz NOT NULL,
            kind visit_kind NOT NULL
        );
        -- Only types COPY BINARY can carry, with bytea: restore sends this table in binary.
        CREATE DOMAIN scan AS bytea CHECK (octet_length(VALUE) < 100000);
        CREATE TABLE documents (
            id bigint PRIMARY KEY,
            patient_id bigint REFERENCES patients(id),
            title text, label varchar(40), code char(6), signed boolean,
            pages smallint, version integer, weight double precision, score real,
            content bytea, scan scan
        );
        CREATE TRIGGER patients_audit BEFORE INSERT ON patients FOR EACH ROW EXECUTE FUNCTION stamp_audit();
        CREATE INDEX patients_with_notes ON patients (mrn) WHERE note IS NOT NULL;
        CREATE INDEX patients_lower_name ON patients (lower(name));
        CREATE INDEX patients_data ON patients USING gin (data jsonb_path_ops);
        CREATE VIEW patient_cards AS SELECT id, mrn, initials(name) AS initials, kind FROM patients;
        CREATE MATERIALIZED VIEW encounter_counts AS
            SELECT patient_id, kind, count(*) AS n FROM encounters GROUP BY patient_id, kind;
        COMMENT ON TABLE patients IS 'Patients — Zoë''s ward, 病棟';
        COMMENT ON COLUMN patients.mrn IS 'medical record number';
        COMMENT ON MATERIALIZED VIEW encounter_counts IS 'refreshed nightly';

        INSERT INTO patients (mrn, name, note, kind, data, scores, tags, photo, balance, big, seen_at) VALUES
          ('MRN000001', 'Zoë Ångström', 'allergic to penicillin', 'inpatient',
           '{"allergies": ["penicillin"], "vitals": {"bp": "120/80", "hr": 72}, "nested": {"a": [1, 2, {"b": null}]}}',
           '{1,2,3}', '{"a b","c,d","e\\"f",NULL}', '\\x00ff0041004200'::bytea, 12345678901234.123456,
           123456789012345678901234567890.123456789012345678901234567890, '2024-03-01 12:00:00+00'),
          ('MRN000002', '李小龍', '', 'outpatient', '{"unicode": "مرحبا 👩‍⚕️ e\\u0301"}',
           '{}', '{}', '\\x'::bytea, -0.000001, -1e-100, '2024-03-01 17:30:00+05:30'),
          ('MRN000003', 'محمد عبد الله', NULL, 'emergency', '[]', NULL, NULL, NULL, NULL,
           'NaN', 'infinity'),
          ('MRN000004', 'e' || chr(769) || 'mile 👩‍⚕️ Ωmega', 'combining mark', 'inpatient', '{"n": 1.5e300}',
           '{-2147483648,2147483647}', ARRAY['tab	here', 'new
        line'], decode(repeat('00', 1000), 'hex'), 99999999999999.999999,
           power(10::numeric, 300) + 0.5, '1970-01-01 00:00:00.000001+00');
        INSERT INTO patients (mrn, name, kind) SELECT 'MRN1' || lpad(g::text, 5, '0'), 'Patient ' || g, 'outpatient'
            FROM generate_series(1, 500) g;
        DELETE FROM patients WHERE mrn = 'MRN100250';  -- a gap in the identity sequence
        INSERT INTO encounters (patient_id, at, kind)
            SELECT id, timestamptz '2024-01-01 08:00+00' + id * interval '37 minutes', kind FROM patients;
        INSERT INTO encounters (patient_id, at, kind)
            SELECT id, timestamptz '2024-06-01 08:00+01' + id * interval '1 hour', 'emergency' FROM patients WHERE id % 7 = 0;
        REFRESH MATERIALIZED VIEW encounter_counts;
        INSERT INTO documents VALUES
          (-9223372036854775808, 1, 'Zoë''s scan — 病棟 👩‍⚕️', E'tab\\there\\nnewline \\\\ backslash', 'AB', true,
           -32768, -2147483648, 1.7976931348623157e308, 3.4028235e38, '\\x00010203feff'::bytea, '\\x5c6e'::bytea),
          (9223372036854775807, 2, '', '', '', false, 32767, 2147483647, '-0', 'NaN', '\\x'::bytea, NULL),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Infinity', '-Infinity', NULL, '\\x'),
          (4, 3, E'\\b\\f\\v\\r control \\\\N', 'x', 'abcdef', true, 0, 0, 5e-324, 1.4e-45,
           (SELECT string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea) FROM generate_series(0, 255) g),
           decode(repeat('0a5c09', 20000), 'hex')),
          (5, 4, '\\N', '\\\\N', NULL, false, 1, 1, 0.1, 0.1, decode(repeat('ab', 70000), 'hex'), NULL);
        """

    @Test func ehrTypesAndObjectsRoundTrip() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let source = try dbs.create("types")
        try pg.script(source, Self.ehrSchema)
        // The setup is what the test thinks it is.
        try #require(try pg.value(source, "SELECT count(*) FROM patients WHERE audit = 'trigger fired;'") == "503")
        try #require(try pg.value(source, "SELECT octet_length(photo) FROM patients WHERE mrn = 'MRN000001'") == "7")
        try #require(try pg.value(source, "SELECT relispopulated FROM pg_class WHERE relname = 'encounter_counts'") == "t")

        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")
        let target = dbs.name("restored")
        // Every table is split across two loaders and verified in block ranges, as big tables are.
        let restore = try ws.run(["restore", "latest", "--source", "fhir", "--to-database", target, "--jobs", "2"],
                                 environment: ["EHRDATA_TEST_SPLIT_BYTES": "1"])
        try #require(restore.status == 0, "restore failed: \(restore.stderr)")

        try pg.expectSameDatabase(source, target)
        // documents went as COPY BINARY (bytea and only plain types) and its bytea columns
        // entered the digest by value, which makes the manifest version 2.
        let id = try #require(try ws.snapshotIDs().first)
        #expect(try ws.manifestJSON(id)["version"] as? Int == 2)
        let m = try ws.postgresManifest(id)
        #expect(m.hashedColumns["public.documents"] == ["content", "scan"])
        #expect(m.hashedColumns["public.patients"] == ["photo"])
        #expect(m.hashedColumns["public.encounters"] == nil)
        // One connection: no table is split, each is sent whole (text, or binary for documents).
        let single = dbs.name("single")
        let one = try ws.run(["restore", "latest", "--source", "fhir", "--to-database", single, "--jobs", "1"])
        try #require(one.status == 0, "restore --jobs 1 failed: \(one.stderr)")
        try pg.expectSameDatabase(source, single)

        // Rows were loaded, not inserted: the BEFORE INSERT trigger did not stamp them again.
        #expect(try pg.value(target, "SELECT count(*) FROM patients WHERE audit <> 'trigger fired;'") == "0")
        // Values whose text form hides differences, checked directly.
        for check in [
            "SELECT id, title, label, code, signed, pages, version, weight::text, score::text, md5(content), md5(scan) FROM documents ORDER BY id",
            "SELECT octet_length(content), octet_length(scan), label = E'tab\\there\\nnewline \\\\ backslash' FROM documents ORDER BY id",
            "SELECT encode(photo, 'hex') FROM patients WHERE mrn = 'MRN000001'",
            "SELECT octet_length(photo) FROM patients WHERE mrn = 'MRN000004'",
            "SELECT note IS NULL, note = '' FROM patients WHERE mrn IN ('MRN000002', 'MRN000003') ORDER BY mrn",
            "SELECT big::text, balance::text FROM patients WHERE mrn IN ('MRN000001', 'MRN000004') ORDER BY mrn",
            "SELECT extract(epoch FROM seen_at)::text FROM patients WHERE mrn IN ('MRN000001', 'MRN000002', 'MRN000004') ORDER BY mrn",
            "SELECT name, length(name), octet_length(name), name_length FROM patients WHERE mrn LIKE 'MRN00000%' ORDER BY mrn",
            "SELECT data::text, data @> '{\"allergies\": [\"penicillin\"]}' FROM patients ORDER BY id LIMIT 4",
            "SELECT tags, array_length(tags, 1), scores FROM patients WHERE mrn LIKE 'MRN00000%' ORDER BY mrn",
            "SELECT obj_description('patients'::regclass, 'pg_class')",
            "SELECT col_description('patients'::regclass, 2)",
            "SELECT condeferrable, condeferred FROM pg_constraint WHERE conrelid = 'encounters'::regclass AND contype = 'f'",
            "SELECT relispopulated FROM pg_class WHERE relname = 'encounter_counts'",
            "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM encounter_counts t",
            "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM patient_cards t",
        ] {
            #expect(try pg.value(target, check) == (try pg.value(source, check)), "differs: \(check)")
        }
        #expect(try pg.value(target, "SELECT relispopulated FROM pg_class WHERE relname = 'encounter_counts'") == "t")
        // The identity sequences continue where the original's would: the next id is the same in both.
        for insert in [
            "INSERT INTO patients (mrn, name, kind) VALUES ('MRN777777', 'Next Patient', 'outpatient') RETURNING id, name_length, audit",
            "INSERT INTO encounters (patient_id, at, kind) VALUES (1, now(), 'inpatient') RETURNING id",
        ] {
            let original = try pg.value(source, insert)
            let restored = try pg.value(target, insert)
            #expect(restored == original, "\(insert): original gave \(original), restored gave \(restored)")
        }
        #expect(try pg.value(target, "SELECT max(id) FROM patients") == "505")
        // Constraints and the domain still bite in the restored copy (after the identity check:
        // a rejected INSERT still consumes an identity value).
        #expect(try pg.psql(target, "INSERT INTO patients (mrn, name, kind) VALUES ('bad', 'x', 'inpatient')").status != 0)
        #expect(try pg.psql(target, "INSERT INTO patients (mrn, name, kind, balance) VALUES ('MRN999999', 'x', 'inpatient', -2000000000)").status != 0)
        #expect(try pg.psql(target, "INSERT INTO patients (id, mrn, name, kind) VALUES (1, 'MRN999998', 'x', 'inpatient')").status != 0,
                "the identity column is no longer GENERATED ALWAYS")

    }

    /// Without `--no-owner` objects keep their owner role; with it they belong to the user ehrdata
    /// connects as.
    @Test func ownersAreKeptUnlessNoOwner() throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let owner = try dbs.createRole("owner", "NOLOGIN")
        let source = try dbs.create("owned")
        try pg.script(source, """
            CREATE TABLE owned_table (id int PRIMARY KEY, v text);
            INSERT INTO owned_table VALUES (1, 'one'), (2, 'two');
            ALTER TABLE owned_table OWNER TO \(owner);
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        _ = try ws.ok(["backup"])

        let kept = dbs.name("kept")
        _ = try ws.ok(["restore", "latest", "--source", "fhir", "--to-database", kept])
        #expect(try pg.value(kept, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned_table'") == owner)
        try pg.expectSameDatabase(source, kept)

        let noOwner = dbs.name("noowner")
        _ = try ws.ok(["restore", "latest", "--source", "fhir", "--to-database", noOwner, "--no-owner"])
        #expect(try pg.value(noOwner, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned_table'") == pg.user)
        #expect(try pg.tableDigests(noOwner) == (try pg.tableDigests(source)))
    }
}
