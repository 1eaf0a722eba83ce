import EHRPostgres
import Foundation
import Testing

/// COPY text from the real server, turned into COPY BINARY by the encoder and loaded back, must
/// give the same table, whatever the pieces the text arrives in.
@Suite struct CopyBinaryEncoderTests {
    var connectionString: String {
        get throws {
            try #require(ProcessInfo.processInfo.environment["EHRDATA_TEST_PG"],
                         "EHRDATA_TEST_PG is not set: run the suite with scripts/test.sh, which starts PostgreSQL")
        }
    }

    static let settings = ["bytea_output = 'hex'", "extra_float_digits = 3", "client_encoding = 'UTF8'",
                           "standard_conforming_strings = on"]

    func connect() throws -> PostgresConnection {
        let db = try PostgresConnection(connectionString: try connectionString)
        for s in Self.settings { try db.execute("SET \(s)") }
        try db.execute("""
            CREATE DOMAIN pg_temp.scan AS bytea;
            CREATE TEMP TABLE src (id bigint, title text, label varchar(30), code char(4), ok boolean, small smallint,
                                   mid integer, d double precision, r real, content bytea, scan pg_temp.scan);
            INSERT INTO src VALUES
              (-9223372036854775808, 'Zoë 李 👩‍⚕️', E'tab\\there\\nnew\\\\', 'ab', true, -32768, -2147483648,
               1.7976931348623157e308, 3.4028235e38, '\\x00ff'::bytea, '\\x5c0a'::bytea),
              (9223372036854775807, '', '', '', false, 32767, 2147483647, '-0', 'NaN', '\\x'::bytea, NULL),
              (0, NULL, NULL, NULL, NULL, NULL, NULL, 'Infinity', '-Infinity', NULL, '\\x'),
              (1, E'\\b\\f\\v\\r\\\\N', '\\N', 'abcd', true, 0, 0, 5e-324, 1.4e-45,
               (SELECT string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea) FROM generate_series(0, 255) g),
               decode(repeat('0a5c09', 5000), 'hex'));
            CREATE TEMP TABLE dst (LIKE src);
            """)
        return db
    }

    func types(_ db: PostgresConnection) throws -> [CopyBinaryEncoder.FieldType] {
        try db.rows("""
            SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = 'src'::regclass AND a.attnum > 0 ORDER BY a.attnum
            """).map { try #require(CopyBinaryEncoder.FieldType(oid: Int($0[0] ?? "") ?? 0)) }
    }

    func text(_ db: PostgresConnection, _ table: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try db.copyOut("COPY (SELECT * FROM \(table) ORDER BY id) TO STDOUT") { bytes.append(contentsOf: $0) }
        return bytes
    }

    @Test(arguments: [1, 7, 4096, 1 << 20])
    func binaryLoadGivesTheSameTable(pieceSize: Int) throws {
        let db = try connect()
        let original = try text(db, "src")
        var encoder = CopyBinaryEncoder(types: try types(db))
        try db.copyIn("COPY dst FROM STDIN WITH (FORMAT binary)") { put in
            try original.withUnsafeBytes { all in
                for start in stride(from: 0, to: all.count, by: pieceSize) {
                    try encoder.feed(UnsafeRawBufferPointer(rebasing: all[start..<min(all.count, start + pieceSize)]), emit: put)
                }
            }
            try encoder.finish(emit: put)
        }
        #expect(try db.value("SELECT count(*) FROM dst") == "4")
        #expect(try text(db, "dst") == original)
    }

    @Test func typesWithoutABinaryEncodingAreRefused() {
        for oid in [1700 /* numeric */, 1114 /* timestamp */, 3802 /* jsonb */, 1007 /* int4[] */] {
            #expect(CopyBinaryEncoder.FieldType(oid: oid) == nil)
        }
    }

    @Test(arguments: [
        "1\t\\\\x0g\n",              // not hex
        "1\t\\\\x012\n",             // odd digits
        "x1\t\\\\x00\n",             // not an integer
        "99999999999999999999\t\\N\n", // out of range
        "1\n",                       // a field missing
        "1\t\\N\textra\n",           // a field too many
        "1\t\\\\x00",                // no row end
    ])
    func malformedTextIsAnError(row: String) {
        var encoder = CopyBinaryEncoder(types: [.int8, .bytea])
        #expect(throws: CopyBinaryEncoder.EncodingError.self) {
            try Array(row.utf8).withUnsafeBytes { try encoder.feed($0) { _ in } }
            try encoder.finish { _ in }
        }
    }
}
