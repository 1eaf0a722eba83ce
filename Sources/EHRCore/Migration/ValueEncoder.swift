/// Writes a SQLite value as one field of a PostgreSQL COPY BINARY tuple (a 4-byte length, then
/// the type's binary send format) for the column's decision. Binary, because it is what the
/// server reads fastest, and because the server sends the same bytes back on a binary COPY out:
/// the parity proof compares bytes, not two printers' ideas of a float.
///
/// Returns false, writing nothing, when the value is not one the type holds (a row to reject;
/// with `stop` and `widen` the profile has ruled that out already).
public enum ValueEncoder {
    public static func encode(_ value: SQLiteValue, as d: ColumnDecision, into out: inout [UInt8]) -> Bool {
        if case .null = value {
            out.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])
            return true
        }
        switch d.type {
        case .bigint:
            guard case .integer(let v) = value else { return false }
            put32(8, &out); put64(UInt64(bitPattern: v), &out)
        case .integer:
            guard case .integer(let v) = value, let w = Int32(exactly: v) else { return false }
            put32(4, &out); put32(UInt32(bitPattern: w), &out)
        case .smallint:
            guard case .integer(let v) = value, let w = Int16(exactly: v) else { return false }
            put32(2, &out); out.append(UInt8(UInt16(bitPattern: w) >> 8)); out.append(UInt8(UInt16(bitPattern: w) & 0xFF))
        case .doublePrecision:
            let f: Double
            switch value {
            case .real(let v): f = v
            case .integer(let v):
                guard let exact = Double(exactly: v) else { return false }
                f = exact
            default: return false
            }
            put32(8, &out); put64(f.bitPattern, &out)
        case .numeric(let precision, let scale):
            return numeric(value, precision: precision, scale: scale, into: &out)
        case .boolean:
            let b: Bool
            switch value {
            case .integer(let v) where v == 0 || v == 1: b = v == 1
            case .text(let t):
                guard let spelled = BooleanText.read(t) else { return false }
                b = spelled
            default: return false
            }
            put32(1, &out); out.append(b ? 1 : 0)
        case .date, .timestamp, .timestamptz, .time:
            return temporal(value, d, into: &out)
        case .varchar(let n):
            return text(value, limit: n, into: &out)
        case .text:
            return text(value, limit: nil, into: &out)
        case .bytea:
            switch value {
            case .blob(let b), .text(let b): putBytes(b, &out)
            case .integer(let v): putBytes(Array(String(v).utf8), &out)
            case .real(let v): putBytes(Array(v.exactText.utf8), &out)
            case .null: break
            }
        }
        return true
    }

    private static func text(_ value: SQLiteValue, limit: Int?, into out: inout [UInt8]) -> Bool {
        switch value {
        case .text(let b):
            let (chars, valid, nul) = UTF8Check.scan(b)
            guard valid, !nul, limit.map({ chars <= $0 }) ?? true else { return false }
            putBytes(b, &out)
        case .integer(let v): putBytes(Array(String(v).utf8), &out)
        case .real(let v): putBytes(Array(v.exactText.utf8), &out)
        default: return false
        }
        return true
    }

    private static func numeric(_ value: SQLiteValue, precision: Int?, scale: Int?, into out: inout [UInt8]) -> Bool {
        let decimal: DecimalText
        switch value {
        case .integer(let v): decimal = DecimalText(v)
        case .real(let v):
            guard let d = DecimalText(v) else {
                guard precision == nil, !v.isNaN else { return false }
                put32(8, &out)
                DecimalText.postgresInfinity(negative: v < 0, into: &out)
                return true
            }
            decimal = d
        default: return false
        }
        if let precision, let scale, !decimal.fits(precision: precision, scale: scale) { return false }
        let start = out.count
        put32(0, &out)
        decimal.postgresBinary(scale: scale ?? decimal.fractionDigits, into: &out)
        setLength(at: start, &out)
        return true
    }

    private static func temporal(_ value: SQLiteValue, _ d: ColumnDecision, into out: inout [UInt8]) -> Bool {
        var t: CivilTime
        switch value {
        case .text(let b):
            switch TemporalText.read(b) {
            case .iso(let read): t = read
            case .slashed(let a, let b, let rest):
                guard let order = d.temporal.slashOrder, let read = TemporalText.resolve(a: a, b: b, rest: rest, order: order) else { return false }
                t = read
            default: return false
            }
        case .integer(let v):
            if d.temporal.compactDates, let read = TemporalText.compactDate(v) {
                t = read
            } else {
                guard d.type != .time, let read = epoch(v, milliseconds: d.temporal.epochMilliseconds, zoned: d.type == .timestamptz) else { return false }
                t = read
            }
        default: return false
        }
        switch d.type {
        case .date:
            guard t.hasDate, !t.hasTime || t.microsecondOfDay == 0, t.offsetMinutes == nil else { return false }
            put32(4, &out); put32(UInt32(bitPattern: Int32(t.daysSince2000)), &out)
        case .timestamp:
            guard t.hasDate, t.offsetMinutes == nil else { return false }
            put32(8, &out); put64(UInt64(bitPattern: t.microsecondsSince2000), &out)
        case .timestamptz:
            guard t.hasDate, t.offsetMinutes != nil else { return false }
            put32(8, &out); put64(UInt64(bitPattern: t.microsecondsSince2000), &out)
        case .time:
            guard !t.hasDate else { return false }
            put32(8, &out); put64(UInt64(bitPattern: t.microsecondOfDay), &out)
        default: return false
        }
        return true
    }

    /// An epoch number as a UTC date-time (an instant, with offset 0, for timestamptz).
    static func epoch(_ v: Int64, milliseconds: Bool, zoned: Bool) -> CivilTime? {
        let (seconds, micro): (Int64, Int64) = milliseconds
            ? (v.dividedRoundingDown(by: 1000), (v - v.dividedRoundingDown(by: 1000) * 1000) * 1000) : (v, 0)
        guard seconds > -62_135_596_800, seconds < 253_402_300_800 else { return nil } // years 1...9999
        let days = seconds.dividedRoundingDown(by: 86400)
        let secondOfDay = Int(seconds - days * 86400)
        var t = CivilTime.fromDaysSince1970(Int(days))
        t.hour = secondOfDay / 3600
        t.minute = secondOfDay / 60 % 60
        t.second = secondOfDay % 60
        t.microsecond = Int(micro)
        t.hasTime = true
        if zoned { t.offsetMinutes = 0 }
        return t
    }

    static func put32(_ v: UInt32, _ out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8(v >> 16 & 0xFF)); out.append(UInt8(v >> 8 & 0xFF)); out.append(UInt8(v & 0xFF))
    }

    static func put64(_ v: UInt64, _ out: inout [UInt8]) {
        put32(UInt32(v >> 32), &out); put32(UInt32(v & 0xFFFF_FFFF), &out)
    }

    static func putBytes<C: Collection>(_ b: C, _ out: inout [UInt8]) where C.Element == UInt8 {
        put32(UInt32(b.count), &out)
        out.append(contentsOf: b)
    }

    static func setLength(at start: Int, _ out: inout [UInt8]) {
        let n = UInt32(out.count - start - 4)
        out[start] = UInt8(n >> 24); out[start + 1] = UInt8(n >> 16 & 0xFF); out[start + 2] = UInt8(n >> 8 & 0xFF); out[start + 3] = UInt8(n & 0xFF)
    }
}

extension Int64 {
    func dividedRoundingDown(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

extension CivilTime {
    /// Howard Hinnant's civil_from_days.
    static func fromDaysSince1970(_ z0: Int) -> CivilTime {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        var t = CivilTime()
        t.day = doy - (153 * mp + 2) / 5 + 1
        t.month = mp < 10 ? mp + 3 : mp - 9
        t.year = yoe + era * 400 + (t.month <= 2 ? 1 : 0)
        return t
    }
}
