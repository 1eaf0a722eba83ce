/// Dates and times read from SQLite text, without any time zone of this machine: a value is
/// either a date, a wall-clock date-time, an instant (with an offset) or a time of day.
public struct CivilTime: Equatable, Sendable {
    public var year = 2000, month = 1, day = 1
    public var hour = 0, minute = 0, second = 0, microsecond = 0
    /// Minutes east of UTC, when the text carries an offset (Z is 0).
    public var offsetMinutes: Int?
    public var hasDate = true
    public var hasTime = false

    public init() {}

    /// Days since 2000-01-01, PostgreSQL's epoch for date (Howard Hinnant's days_from_civil).
    public var daysSince2000: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468 - 10957
    }

    /// Microseconds since 2000-01-01 00:00:00 (UTC when there is an offset).
    public var microsecondsSince2000: Int64 {
        let seconds = Int64(daysSince2000) * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64((offsetMinutes ?? 0) * 60)
        return seconds * 1_000_000 + Int64(microsecond)
    }

    public var microsecondOfDay: Int64 { Int64(hour * 3600 + minute * 60 + second) * 1_000_000 + Int64(microsecond) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    var isValid: Bool {
        (!hasDate || (1...9999).contains(year) && (1...12).contains(month) && day >= 1 && day <= Self.daysIn(month: month, year: year))
            && hour < 24 && minute < 60 && second < 60 && (offsetMinutes.map { abs($0) <= 15 * 60 } ?? true)
    }
}

/// The forms migrate reads. ISO 8601 always; a slashed date only when the whole column uses it
/// and some value fixes its order.
public enum TemporalText {
    public enum SlashOrder: Sendable { case monthFirst, dayFirst }

    public enum Reading: Equatable {
        case iso(CivilTime)
        /// a/b/yyyy with both a and b ≤ 12 read either way: `aOver12`/`bOver12` say which part
        /// ruled out being a month.
        case slashed(a: Int, b: Int, rest: CivilTime)
        /// Digits past the sixth of a second that are not zero: PostgreSQL would round them.
        case tooPrecise
        case unreadable
    }

    /// Reads `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.f…]][Z|±HH[:MM]]`, `HH:MM[:SS[.f…]]`, or
    /// `a/b/YYYY[ time]`.
    public static func read(_ bytes: UnsafeRawBufferPointer) -> Reading {
        var p = Parser(bytes)
        var t = CivilTime()
        if let y = p.digits(4), p.take(0x2D) { // YYYY-
            guard let m = p.digits(2), p.take(0x2D), let d = p.digits(2) else { return .unreadable }
            (t.year, t.month, t.day) = (y, m, d)
            if p.atEnd { return t.isValid ? .iso(t) : .unreadable }
            guard p.take(0x54) || p.take(0x20) else { return .unreadable } // T or space
            return finishTime(&p, &t, offsets: true)
        }
        p = Parser(bytes)
        if let a = p.digitsUpTo(2), p.take(0x2F) { // a/b/YYYY
            guard let b = p.digitsUpTo(2), p.take(0x2F), let y = p.digits(4) else { return .unreadable }
            t.year = y
            if !p.atEnd {
                guard p.take(0x20) else { return .unreadable }
                let reading = finishTime(&p, &t, offsets: false)
                guard case .iso(let full) = reading else { return reading }
                t = full
            }
            return .slashed(a: a, b: b, rest: t)
        }
        p = Parser(bytes)
        t.hasDate = false
        return finishTime(&p, &t, offsets: false)
    }

    /// The slashed date in `order`, or nil when it is not a date that way.
    public static func resolve(a: Int, b: Int, rest: CivilTime, order: SlashOrder) -> CivilTime? {
        var t = rest
        (t.month, t.day) = order == .monthFirst ? (a, b) : (b, a)
        return t.isValid ? t : nil
    }

    private static func finishTime(_ p: inout Parser, _ t: inout CivilTime, offsets: Bool) -> Reading {
        guard let h = p.digits(2), p.take(0x3A), let mi = p.digits(2) else { return .unreadable }
        (t.hour, t.minute) = (h, mi)
        t.hasTime = true
        if p.take(0x3A) {
            guard let s = p.digits(2) else { return .unreadable }
            t.second = s
            if p.take(0x2E) {
                var digits = 0, micro = 0, extraNonZero = false
                while let d = p.digit() {
                    if digits < 6 { micro = micro * 10 + d } else if d != 0 { extraNonZero = true }
                    digits += 1
                }
                guard digits > 0 else { return .unreadable }
                for _ in digits..<max(digits, 6) { micro *= 10 }
                t.microsecond = micro
                if extraNonZero { return .tooPrecise }
            }
        }
        if !p.atEnd {
            guard offsets, t.hasDate else { return .unreadable }
            if p.take(0x5A) { t.offsetMinutes = 0 } else {
                let sign: Int
                if p.take(0x2B) { sign = 1 } else if p.take(0x2D) { sign = -1 } else { return .unreadable }
                guard let oh = p.digits(2) else { return .unreadable }
                var om = 0
                if p.take(0x3A) {
                    guard let m = p.digits(2) else { return .unreadable }
                    om = m
                } else if let m = p.digits(2) { om = m }
                guard om < 60 else { return .unreadable }
                t.offsetMinutes = sign * (oh * 60 + om)
            }
            guard p.atEnd else { return .unreadable }
        }
        return t.isValid ? .iso(t) : .unreadable
    }

    /// An integer that reads as YYYYMMDD (SQLite's NUMERIC affinity turns the text '19570312'
    /// in a DATE column into this integer).
    public static func compactDate(_ v: Int64) -> CivilTime? {
        guard v >= 10_000_101, v <= 99_991_231 else { return nil }
        var t = CivilTime()
        (t.year, t.month, t.day) = (Int(v / 10000), Int(v / 100 % 100), Int(v % 100))
        return t.isValid ? t : nil
    }

    /// Epoch values at or above this magnitude are milliseconds (10^11 s is the year 5138).
    public static let millisecondThreshold: Int64 = 100_000_000_000

    private struct Parser {
        let b: UnsafeRawBufferPointer
        var i = 0
        init(_ b: UnsafeRawBufferPointer) { self.b = b }
        var atEnd: Bool { i == b.count }
        mutating func take(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        mutating func digit() -> Int? {
            guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            i += 1
            return Int(b[i - 1] - 0x30)
        }
        mutating func digits(_ n: Int) -> Int? {
            let start = i
            var v = 0
            for _ in 0..<n {
                guard let d = digit() else { i = start; return nil }
                v = v * 10 + d
            }
            return v
        }
        mutating func digitsUpTo(_ n: Int) -> Int? {
            var v = 0, count = 0
            while count < n, let d = digit() { v = v * 10 + d; count += 1 }
            return count > 0 ? v : nil
        }
    }
}
