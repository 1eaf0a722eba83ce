import EHRCore
import Testing

/// The pure readers migrate's type decisions rest on: dates and times, decimals from doubles
/// (and their PostgreSQL binary form), UTF-8 checks, declared types.

func read(_ text: String) -> TemporalText.Reading {
    Array(text.utf8).withUnsafeBytes { TemporalText.read($0) }
}

func scan(_ bytes: [UInt8]) -> (characters: Int, valid: Bool, hasNul: Bool) {
    bytes.withUnsafeBytes { UTF8Check.scan($0) }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

@Suite struct TemporalTextTests {
    /// (text, year, month, day, hour, minute, second, microsecond, offset minutes, has date, has time)
    static let readable: [(String, Int, Int, Int, Int, Int, Int, Int, Int?, Bool, Bool)] = [
        ("1957-03-12", 1957, 3, 12, 0, 0, 0, 0, nil, true, false),
        ("2000-02-29", 2000, 2, 29, 0, 0, 0, 0, nil, true, false),
        ("2024-01-02T03:04:05", 2024, 1, 2, 3, 4, 5, 0, nil, true, true),
        ("2024-01-02 03:04:05", 2024, 1, 2, 3, 4, 5, 0, nil, true, true),
        ("2024-01-02 03:04", 2024, 1, 2, 3, 4, 0, 0, nil, true, true),
        ("2024-06-30 23:59:59.123456", 2024, 6, 30, 23, 59, 59, 123_456, nil, true, true),
        ("2024-06-30 23:59:59.5", 2024, 6, 30, 23, 59, 59, 500_000, nil, true, true),
        ("2024-06-30 23:59:59.1234560", 2024, 6, 30, 23, 59, 59, 123_456, nil, true, true),
        ("2024-01-02T03:04:05Z", 2024, 1, 2, 3, 4, 5, 0, 0, true, true),
        ("2024-06-30 12:00:00+02:00", 2024, 6, 30, 12, 0, 0, 0, 120, true, true),
        ("2024-06-30 12:00:00-0530", 2024, 6, 30, 12, 0, 0, 0, -330, true, true),
        ("2024-06-30T12:00:00+02", 2024, 6, 30, 12, 0, 0, 0, 120, true, true),
        ("0001-01-01", 1, 1, 1, 0, 0, 0, 0, nil, true, false),
        ("9999-12-31T23:59:59.999999", 9999, 12, 31, 23, 59, 59, 999_999, nil, true, true),
        ("13:14:15", 2000, 1, 1, 13, 14, 15, 0, nil, false, true),
        ("00:00:00.5", 2000, 1, 1, 0, 0, 0, 500_000, nil, false, true),
    ]

    @Test(arguments: readable.indices)
    func isoForms(_ i: Int) throws {
        let (text, y, mo, d, h, mi, s, us, offset, hasDate, hasTime) = Self.readable[i]
        guard case .iso(let t) = read(text) else {
            Issue.record("\(text) is not read as ISO 8601: \(read(text))")
            return
        }
        #expect([t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond] == [y, mo, d, h, mi, s, us], "\(text)")
        #expect(t.offsetMinutes == offset, "\(text)")
        #expect(t.hasDate == hasDate && t.hasTime == hasTime, "\(text)")
    }

    @Test(arguments: [
        "2023-02-30", "1900-02-29", "2023-04-31", "2023-13-01", "2023-00-10", "0000-01-01",
        "2024-01-02 24:00:00", "2024-01-02 23:60:00", "2024-01-02 23:59:60", "2024-1-2", "2024-01-02X03:04:05",
        "2024-01-02 03:04:05.", "2024-01-02 03:04:05+25:00", "2024-01-02 03:04:05+02:60", "2024-01-02 03:04:05 Z",
        "13:14:15Z", "24:00", "", "now", "2024-01-02T", "19570312", "1957/03/12",
    ])
    func rejected(_ text: String) {
        #expect(read(text) == .unreadable, "\(text) was read: \(read(text))")
    }

    @Test func sevenFractionDigitsAreTooPrecise() {
        #expect(read("2024-01-02 03:04:05.1234567") == .tooPrecise)
        #expect(read("13:14:15.0000001") == .tooPrecise)
    }

    @Test func slashedDatesAreReadInTheOrderTheColumnFixes() throws {
        guard case .slashed(let a, let b, let rest) = read("03/12/1957") else {
            Issue.record("not slashed: \(read("03/12/1957"))")
            return
        }
        #expect(a == 3 && b == 12 && rest.year == 1957 && !rest.hasTime)
        let dayFirst = try #require(TemporalText.resolve(a: a, b: b, rest: rest, order: .dayFirst))
        #expect([dayFirst.year, dayFirst.month, dayFirst.day] == [1957, 12, 3])
        let monthFirst = try #require(TemporalText.resolve(a: a, b: b, rest: rest, order: .monthFirst))
        #expect([monthFirst.year, monthFirst.month, monthFirst.day] == [1957, 3, 12])
        guard case .slashed(let a2, let b2, let rest2) = read("25/12/1960 10:30") else {
            Issue.record("not slashed with a time")
            return
        }
        #expect(TemporalText.resolve(a: a2, b: b2, rest: rest2, order: .monthFirst) == nil)
        let christmas = try #require(TemporalText.resolve(a: a2, b: b2, rest: rest2, order: .dayFirst))
        #expect([christmas.month, christmas.day, christmas.hour, christmas.minute] == [12, 25, 10, 30])
        guard case .slashed(let a3, let b3, let rest3) = read("31/02/2001") else { return }
        #expect(TemporalText.resolve(a: a3, b: b3, rest: rest3, order: .dayFirst) == nil)
    }

    @Test func compactDates() throws {
        let t = try #require(TemporalText.compactDate(19_570_312))
        #expect([t.year, t.month, t.day] == [1957, 3, 12])
        #expect(TemporalText.compactDate(20_000_229) != nil)
        #expect(TemporalText.compactDate(19_000_229) == nil)
        #expect(TemporalText.compactDate(19_571_301) == nil)
        #expect(TemporalText.compactDate(1_700_000_000) == nil)
        #expect(TemporalText.compactDate(0) == nil)
        #expect(TemporalText.compactDate(-19_570_312) == nil)
    }

    /// PostgreSQL's epoch is 2000-01-01; its binary date and timestamp count from there.
    @Test func daysAndMicrosecondsSince2000() throws {
        func iso(_ text: String) throws -> CivilTime {
            guard case .iso(let t) = read(text) else { throw ReadError() }
            return t
        }
        #expect(try iso("2000-01-01").daysSince2000 == 0)
        #expect(try iso("1970-01-01").daysSince2000 == -10_957)
        #expect(try iso("2000-03-01").daysSince2000 == 60)
        #expect(try iso("0001-01-01").daysSince2000 == -730_119)
        #expect(try iso("2000-01-01T02:00:00+02:00").microsecondsSince2000 == 0)
        #expect(try iso("1999-12-31T19:00:00-05:00").microsecondsSince2000 == 0)
        #expect(try iso("2000-01-01 00:00:01.000001").microsecondsSince2000 == 1_000_001)
        #expect(try iso("13:14:15.5").microsecondOfDay == (13 * 3600 + 14 * 60 + 15) * 1_000_000 + 500_000)
    }

    struct ReadError: Error {}
}

@Suite struct DecimalTextTests {
    /// (double, plain text, digits before the point, digits after it)
    static let doubles: [(Double, String, Int, Int)] = [
        (0.1, "0.1", 0, 1),
        (19.99, "19.99", 2, 2),
        (-19.99, "-19.99", 2, 2),
        (1e-300, "0." + String(repeating: "0", count: 299) + "1", 0, 300),
        (5e-324, "0." + String(repeating: "0", count: 323) + "5", 0, 324),
        (1.7976931348623157e308, "17976931348623157" + String(repeating: "0", count: 292), 309, 0),
        (-0.0, "0", 0, 0),
        (0.0, "0", 0, 0),
        (120.0, "120", 3, 0),
        (1e22, "1" + String(repeating: "0", count: 22), 23, 0),
        (123456789.125, "123456789.125", 9, 3),
        (9007199254740993.0, "9007199254740992", 16, 0),
    ]

    @Test(arguments: doubles.indices)
    func shortestRoundTripDecimal(_ i: Int) throws {
        let (v, plain, integerDigits, fractionDigits) = Self.doubles[i]
        let d = try #require(DecimalText(v))
        #expect(d.plain == plain, "\(v)")
        #expect(d.integerDigits == integerDigits && d.fractionDigits == fractionDigits, "\(v): \(d.integerDigits), \(d.fractionDigits)")
        #expect(Double(d.plain) == v, "\(d.plain) does not read back as \(v)")
    }

    @Test func minusZeroIsZero() throws {
        let d = try #require(DecimalText(-0.0))
        #expect(!d.negative && d.digits.isEmpty)
        #expect(d == DecimalText(0 as Int64))
    }

    @Test func infinitiesAndNaNHaveNoDecimal() {
        #expect(DecimalText(Double.infinity) == nil)
        #expect(DecimalText(-Double.infinity) == nil)
        #expect(DecimalText(Double.nan) == nil)
    }

    @Test func integers() {
        #expect(DecimalText(Int64.min).plain == "-9223372036854775808")
        #expect(DecimalText(Int64.max).plain == "9223372036854775807")
        #expect(DecimalText(0 as Int64).plain == "0")
        #expect(DecimalText(-1200 as Int64).plain == "-1200")
    }

    @Test func fits() throws {
        #expect(try #require(DecimalText(19.99)).fits(precision: 10, scale: 2))
        #expect(try #require(DecimalText(19.99)).fits(precision: 4, scale: 2))
        #expect(!(try #require(DecimalText(19.99)).fits(precision: 3, scale: 2)))
        #expect(!(try #require(DecimalText(19.995)).fits(precision: 10, scale: 2)))
        #expect(!(try #require(DecimalText(0.1 + 0.2)).fits(precision: 10, scale: 2)))
        #expect(DecimalText(12_345_678 as Int64).fits(precision: 10, scale: 2))
        #expect(!DecimalText(123_456_789 as Int64).fits(precision: 10, scale: 2))
    }

    /// numeric_send's bytes, as PostgreSQL 15 printed them
    /// (`SELECT encode(numeric_send(v::numeric), 'hex')`, and `::numeric(10,2)` for scale 2).
    /// The CLI tests check the same bytes against the server through the parity proof.
    static let binary: [(DecimalText, Int, String)] = [
        (DecimalText(19.99)!, 2, "0002000000000002001326ac"),
        (DecimalText(-19.99)!, 2, "0002000040000002001326ac"),
        (DecimalText(0.1)!, 1, "0001ffff0000000103e8"),
        (DecimalText(0.1)!, 2, "0001ffff0000000203e8"),
        (DecimalText(5 as Int64), 2, "00010000000000020005"),
        (DecimalText(0 as Int64), 0, "0000000000000000"),
        (DecimalText(0 as Int64), 2, "0000000000000002"),
        (DecimalText(120 as Int64), 0, "00010000000000000078"),
        (DecimalText(10_000 as Int64), 0, "00010001000000000001"),
        (DecimalText(0.0001)!, 4, "0001ffff000000040001"),
        (DecimalText(123456789.125)!, 3, "0004000200000003000109291a8504e2"),
        (DecimalText(Int64.max), 0, "0005000400000000039a0d2c0170156516af"),
        (DecimalText(1e-300)!, 300, "0001ffb50000012c0001"),
        (DecimalText(5e-324)!, 324, "0001ffaf000001440005"),
        (DecimalText(1.7976931348623157e308)!, 0, "0005004d0000000000011f28246112fe0c55"),
    ]

    @Test(arguments: binary.indices)
    func postgresBinaryMatchesNumericSend(_ i: Int) {
        let (d, scale, expected) = Self.binary[i]
        var out: [UInt8] = []
        d.postgresBinary(scale: scale, into: &out)
        #expect(hex(out) == expected, "\(d.plain) scale \(scale)")
    }

    /// `SELECT encode(numeric_send('Infinity'::numeric), 'hex')` and '-Infinity'.
    @Test func infinitiesMatchNumericSend() {
        var plus: [UInt8] = [], minus: [UInt8] = []
        DecimalText.postgresInfinity(negative: false, into: &plus)
        DecimalText.postgresInfinity(negative: true, into: &minus)
        #expect(hex(plus) == "00000000d0000020")
        #expect(hex(minus) == "00000000f0000020")
    }

    @Test func exactText() {
        #expect(Double.infinity.exactText == "Infinity")
        #expect((-Double.infinity).exactText == "-Infinity")
        #expect((0.1).exactText == "0.1")
        #expect((19.99).exactText == "19.99")
    }
}

@Suite struct UTF8CheckTests {
    @Test func validText() {
        #expect(scan([]) == (0, true, false))
        #expect(scan(Array("abc".utf8)) == (3, true, false))
        #expect(scan(Array("Zoë".utf8)) == (3, true, false))
        #expect(scan(Array("漢字".utf8)) == (2, true, false))
        #expect(scan(Array("🙂".utf8)) == (1, true, false))
        // Code points, as varchar(n) counts them: e + combining acute is two.
        #expect(scan(Array("e\u{301}".utf8)) == (2, true, false))
        #expect(scan([0xF4, 0x8F, 0xBF, 0xBF]) == (1, true, false)) // U+10FFFF
    }

    @Test func nul() {
        #expect(scan([0x61, 0x00, 0x62]) == (3, true, true))
        #expect(scan([0x00]).hasNul)
    }

    @Test(arguments: [
        [0xFF], [0x80], [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xF0, 0x80, 0x80, 0x80], // stray, overlong
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], // surrogates
        [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], // past U+10FFFF
        [0xE6, 0xBC], [0x61, 0xC3], [0xC3, 0x41], // truncated, bad continuation
    ] as [[UInt8]])
    func invalid(_ bytes: [UInt8]) {
        #expect(!scan(bytes).valid, "\(hex(bytes)) passed as UTF-8")
    }
}

@Suite struct DeclaredTypeTests {
    static let cases: [(String, DeclaredType)] = [
        ("INTEGER", .integer(.big)), ("integer", .integer(.big)), ("BIGINT", .integer(.big)), ("INT8", .integer(.big)),
        ("UNSIGNED BIG INT", .integer(.big)), ("INT", .integer(.regular)), ("INT(11)", .integer(.regular)),
        ("MEDIUMINT", .integer(.regular)), ("SMALLINT", .integer(.small)), ("TINYINT(1)", .integer(.small)),
        ("REAL", .real), ("DOUBLE", .real), ("double precision", .real), ("FLOAT", .real),
        ("NUMERIC", .numeric(precision: nil, scale: nil)), ("DECIMAL(10,2)", .numeric(precision: 10, scale: 2)),
        ("decimal( 10 , 2 )", .numeric(precision: 10, scale: 2)), ("NUMERIC(5)", .numeric(precision: 5, scale: 0)),
        ("DECIMAL(5,-2)", .numeric(precision: nil, scale: nil)),
        ("BOOLEAN", .boolean), ("bool", .boolean),
        ("DATE", .date), ("DATETIME", .dateTime), ("TIMESTAMP", .dateTime), ("timestamp with time zone", .dateTime), ("TIME", .time),
        ("VARCHAR(45)", .varchar(45)), ("varchar(3)", .varchar(3)), ("CHARACTER VARYING(10)", .varchar(10)), ("NVARCHAR(100)", .varchar(100)),
        ("VARCHAR", .text), ("VARCHAR(abc)", .text),
        ("CHAR(3)", .character(3)), ("CHARACTER", .character(1)), ("NCHAR(2)", .character(2)),
        ("TEXT", .text), ("  TEXT  ", .text), ("CLOB", .text), ("BLOB", .blob),
        ("", .none), ("   ", .none),
        ("JSON", .unknown), ("UUID", .unknown), ("STRING", .unknown), ("BLOB SUB_TYPE TEXT", .unknown), ("BIGINT UNSIGNED", .unknown),
    ]

    @Test(arguments: cases.indices)
    func parse(_ i: Int) {
        let (text, expected) = Self.cases[i]
        #expect(DeclaredType(text) == expected, "'\(text)' read as \(DeclaredType(text))")
    }

    @Test func temporal() {
        #expect(DeclaredType("DATE").isTemporal && DeclaredType("datetime").isTemporal && DeclaredType("TIME").isTemporal)
        #expect(!DeclaredType("TEXT").isTemporal && !DeclaredType("INTEGER").isTemporal)
    }
}
