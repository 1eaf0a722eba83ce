import EHRCore
import Testing

/// Type decisions from column profiles built value by value, as the read pass builds them.
@Suite struct MigrationDecisionTests {
    enum V {
        case null, int(Int64), real(Double), text(String), blob([UInt8])
    }

    static func profile(_ declared: String, _ values: [V]) -> ColumnProfile {
        var p = ColumnProfile(declared: DeclaredType(declared))
        for (i, v) in values.enumerated() {
            let position = Int64(i + 1)
            switch v {
            case .null: p.add(.null, at: position)
            case .int(let x): p.add(.integer(x), at: position)
            case .real(let x): p.add(.real(x), at: position)
            case .text(let s): Array(s.utf8).withUnsafeBytes { p.add(.text($0), at: position) }
            case .blob(let b): b.withUnsafeBytes { p.add(.blob($0), at: position) }
            }
        }
        return p
    }

    static func decide(_ declared: String, _ values: [V]) -> ColumnDecision {
        TypeDecider.decide(profile(declared, values), declaredText: declared, isRowidAlias: false)
    }

    @Test func slashedDatesNeedOneOrderFixedByAValue() {
        let dayFirst = Self.decide("DATE", [.text("03/12/1957"), .text("25/12/1960")])
        #expect(dayFirst.type == .date && dayFirst.mismatch == nil && dayFirst.temporal.slashOrder == .dayFirst)
        let monthFirst = Self.decide("DATE", [.text("03/12/1957"), .text("12/25/1960")])
        #expect(monthFirst.temporal.slashOrder == .monthFirst && monthFirst.mismatch == nil)
        #expect(Self.decide("DATE", [.text("03/12/1957"), .text("04/11/1960")]).mismatch != nil, "ambiguous order accepted")
        #expect(Self.decide("DATE", [.text("25/12/1960"), .text("12/25/1960")]).mismatch != nil, "both orders accepted")
        #expect(Self.decide("DATE", [.text("25/12/1960"), .text("1960-12-25")]).mismatch != nil, "slashed beside ISO accepted")
    }

    @Test func offsetsMakeTimestamptzOnlyWhenEveryValueHasOne() {
        #expect(Self.decide("DATETIME", [.text("2024-01-02T03:04:05Z"), .text("2024-01-02 03:04:05+02:00"), .null]).type == .timestamptz)
        #expect(Self.decide("DATETIME", [.text("2024-01-02T03:04:05"), .text("2024-01-02")]).type == .timestamp)
        let mixed = Self.decide("DATETIME", [.text("2024-01-02T03:04:05Z"), .text("2024-01-02 03:04:05")])
        #expect(mixed.mismatch != nil)
        #expect(TypeDecider.widened(mixed, Self.profile("DATETIME", [.text("2024-01-02T03:04:05Z"), .text("2024-01-02 03:04:05")])).type == .text)
    }

    /// The order fixed by 13/01/2020, 31/04/2020 is no date: a mismatch found by the read pass,
    /// not a load that fails after the staging schema was written.
    @Test func aSlashedValueInvalidInTheFixedOrderIsAMismatch() {
        let d = Self.decide("DATE", [.text("13/01/2020"), .text("31/04/2020")])
        #expect(d.temporal.slashOrder == .dayFirst && d.mismatch != nil)
        #expect(Self.decide("DATE", [.text("13/01/2020"), .text("30/04/2020")]).mismatch == nil)
    }

    @Test func epochsTheirUnitAndCompactDates() {
        let seconds = Self.decide("DATETIME", [.int(1_700_000_000), .int(0)])
        #expect(seconds.type == .timestamp && !seconds.temporal.epochMilliseconds && seconds.mismatch == nil)
        let milliseconds = Self.decide("DATETIME", [.int(1_700_000_000_123), .int(951_782_400_000)])
        #expect(milliseconds.temporal.epochMilliseconds && milliseconds.mismatch == nil)
        #expect(Self.decide("DATETIME", [.int(1_700_000_000), .int(1_700_000_000_123)]).mismatch != nil, "mixed units accepted")
        // 0 is 1970-01-01 in either unit: it does not make a millisecond column mixed.
        let zeroBesideMilliseconds = Self.decide("DATETIME", [.int(0), .int(1_700_000_000_123)])
        #expect(zeroBesideMilliseconds.temporal.epochMilliseconds && zeroBesideMilliseconds.mismatch == nil)
        let compact = Self.decide("DATE", [.int(19_570_312), .int(20_000_229)])
        #expect(compact.type == .date && compact.temporal.compactDates && compact.mismatch == nil)
        // Epochs only in columns declared as dates or times.
        #expect(Self.decide("INTEGER", [.int(1_700_000_000)]).type == .bigint)
        #expect(Self.decide("TIME", [.int(1_700_000_000)]).mismatch != nil)
    }

    @Test func booleans() {
        #expect(Self.decide("BOOLEAN", [.int(0), .int(1), .text("true"), .text("f"), .text("FALSE"), .text("T"), .null]).type == .boolean)
        #expect(Self.decide("BOOLEAN", [.int(0), .int(2)]).mismatch != nil)
        #expect(Self.decide("BOOLEAN", [.text("yes")]).mismatch != nil)
        #expect(Self.decide("BOOLEAN", [.real(1.5)]).mismatch != nil)
    }

    @Test func textLengthsAndChar() {
        #expect(Self.decide("VARCHAR(3)", [.text("abc"), .text("漢字🙂")]).type == .varchar(3))
        let long = Self.decide("VARCHAR(3)", [.text("abcd")])
        #expect(long.type == .text && !long.warnings.isEmpty && long.mismatch == nil)
        #expect(Self.decide("CHAR(3)", [.text("a"), .text("a  ")]).type == .varchar(3))
        #expect(Self.decide("VARCHAR(0)", [.null]).type == .text)
        #expect(Self.decide("VARCHAR(10485761)", [.text("a")]).type == .text)
        #expect(Self.decide("VARCHAR(10485760)", [.text("a")]).type == .varchar(10_485_760))
    }

    @Test func numbers() {
        #expect(Self.decide("DECIMAL(10,2)", [.real(19.99), .real(0.1), .int(5)]).type == .numeric(precision: 10, scale: 2))
        let tooPrecise = Self.decide("DECIMAL(10,2)", [.real(19.995)])
        #expect(tooPrecise.type == .numeric(precision: nil, scale: nil) && !tooPrecise.warnings.isEmpty)
        #expect(Self.decide("DECIMAL(10,2)", [.real(.infinity)]).type == .numeric(precision: nil, scale: nil))
        #expect(Self.decide("REAL", [.real(.infinity), .real(-.infinity), .int(3)]).type == .doublePrecision)
        #expect(Self.decide("REAL", [.int(9_007_199_254_740_993)]).mismatch != nil, "an integer a double cannot hold accepted")
        #expect(Self.decide("REAL", [.text("n/a")]).mismatch != nil)
        #expect(Self.decide("SMALLINT", [.int(32_767)]).type == .smallint)
        #expect(Self.decide("SMALLINT", [.int(32_768)]).type == .bigint)
        #expect(Self.decide("INT", [.int(-2_147_483_648)]).type == .integer)
        #expect(Self.decide("INT", [.int(2_147_483_648)]).type == .bigint)
    }

    @Test func untypedColumnsHoldEveryValue() {
        #expect(Self.decide("", [.int(1), .real(2.5), .text("x"), .blob([0])]).type == .bytea)
        #expect(Self.decide("", [.int(1), .real(2.5), .text("x")]).type == .text)
        #expect(Self.decide("", [.int(1), .real(2.5)]).type == .doublePrecision)
        #expect(Self.decide("", [.int(9_007_199_254_740_993), .real(2.5)]).type == .numeric(precision: nil, scale: nil))
        #expect(Self.decide("", [.int(1)]).type == .bigint)
        #expect(Self.decide("JSON", [.text("{}")]).type == .text)
        for d in [Self.decide("", [.int(1)]), Self.decide("JSON", [.text("{}")])] {
            #expect(d.mismatch == nil && !d.warnings.isEmpty, "an untyped column is refused or not warned about")
        }
    }

    @Test func nulAndInvalidUTF8WidenToBytea() {
        let nul = Self.profile("TEXT", [.text("a\u{0}b")])
        let d = TypeDecider.decide(nul, declaredText: "TEXT", isRowidAlias: false)
        #expect(d.mismatch != nil)
        #expect(TypeDecider.widened(d, nul).type == .bytea)
        var invalid = ColumnProfile(declared: DeclaredType("TEXT"))
        [UInt8]([0xFF, 0x41]).withUnsafeBytes { invalid.add(.text($0), at: 1) }
        let i = TypeDecider.decide(invalid, declaredText: "TEXT", isRowidAlias: false)
        #expect(i.mismatch != nil && TypeDecider.widened(i, invalid).type == .bytea)
    }

    @Test func rowidAliasIsAnIdentity() {
        let d = TypeDecider.decide(Self.profile("INTEGER", [.int(1)]), declaredText: "INTEGER", isRowidAlias: true)
        #expect(d.type == .bigint && d.identity)
    }
}
