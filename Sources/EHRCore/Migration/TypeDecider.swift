/// Chooses each column's PostgreSQL type from its declared type and its profile. The rule
/// behind every choice: distinct values stay distinct unless they are spellings of one value
/// (boolean spellings, one instant's forms); docs/MIGRATION.md has the table.
public enum TypeDecider {
    public static func decide(_ p: ColumnProfile, declaredText: String, isRowidAlias: Bool) -> ColumnDecision {
        if isRowidAlias {
            var d = ColumnDecision(type: .bigint, reason: "INTEGER PRIMARY KEY: the rowid, an identity that continues after the highest id")
            d.identity = true
            return d
        }
        var d = strict(p, declaredText: declaredText)
        if p.nul.count > 0 || p.invalidUTF8.count > 0, d.type != .bytea {
            d.mismatch = join(d.mismatch, textProblems(p))
        }
        return d
    }

    /// The same decision with `widen`: a column whose declared type does not hold its values
    /// gets the type that holds them all.
    public static func widened(_ d: ColumnDecision, _ p: ColumnProfile) -> ColumnDecision {
        guard let mismatch = d.mismatch else { return d }
        var w = holder(p)
        w.strictType = d.type
        w.reason = "widened from \(d.type.sql): \(mismatch)"
        w.warnings = d.warnings + ["widened to \(w.type.sql): \(mismatch)"]
        return w
    }

    private static func strict(_ p: ColumnProfile, declaredText: String) -> ColumnDecision {
        let declared = p.declared
        switch declared {
        case .integer(let width):
            var d = ColumnDecision(type: .bigint, reason: "integer column")
            d.mismatch = others(p, besides: [.integer], in: "an integer column")
            if p.integers.count > 0 || width != .big {
                switch width {
                case .small where p.integers.count == 0 || (p.minInteger >= Int64(Int16.min) && p.maxInteger <= Int64(Int16.max)):
                    d.type = .smallint; d.reason = "declared \(declaredText), the data fits"
                case .regular where p.integers.count == 0 || (p.minInteger >= Int64(Int32.min) && p.maxInteger <= Int64(Int32.max)):
                    d.type = .integer; d.reason = "declared \(declaredText), the data fits"
                case .small, .regular: d.reason = "declared \(declaredText), but values exceed it"
                case .big: break
                }
            }
            return d
        case .real:
            var d = ColumnDecision(type: .doublePrecision, reason: "REAL is an 8-byte float" + (p.infinities.count > 0 ? "; infinities kept" : ""))
            d.mismatch = others(p, besides: [.integer, .real], in: "a REAL column")
            if p.wideIntegers.count > 0 { d.mismatch = join(d.mismatch, "\(p.wideIntegers.count) integers beyond 2^53 a double cannot hold exactly\(at(p.wideIntegers))") }
            return d
        case .numeric(let precision, let scale):
            var d = ColumnDecision(type: .numeric(precision: nil, scale: nil), reason: "NUMERIC holds integers and decimals exactly")
            d.mismatch = others(p, besides: [.integer, .real], in: "a NUMERIC column")
            if let precision, let scale, precision >= 1, precision <= 1000, scale <= precision {
                if p.infinities.count == 0, p.maxFractionDigits <= scale, p.maxIntegerDigits <= precision - scale {
                    d.type = .numeric(precision: precision, scale: scale)
                    d.reason = "declared \(declaredText); every value's shortest decimal fits"
                } else {
                    d.reason = "declared \(declaredText), but values need more digits (or are infinite): unconstrained numeric"
                    d.warnings.append(d.reason)
                }
            }
            return d
        case .boolean:
            var d = ColumnDecision(type: .boolean, reason: "every value is a boolean spelling (0/1, true/false, t/f)")
            if p.notBoolean.count > 0 { d.mismatch = "\(p.notBoolean.count) values are not a boolean spelling\(at(p.notBoolean))" }
            return d
        case .date, .dateTime, .time:
            return temporal(p, declaredText: declaredText)
        case .varchar(let n), .character(let n):
            var d = ColumnDecision(type: .varchar(n), reason: "declared \(declaredText); the data fits")
            if case .character = declared { d.reason += "; varchar, since character(n) pads and would merge values differing in trailing blanks" }
            if n < 1 || n > 10_485_760 {
                // PostgreSQL's varchar takes 1 to 10485760; SQLite ignores the length.
                d.type = .text
                d.reason = "declared \(declaredText), a length PostgreSQL's varchar does not take: text"
                d.warnings.append(d.reason)
            } else if p.maxCharacters > n {
                d.type = .text
                d.reason = "declared \(declaredText), but values are up to \(p.maxCharacters) characters: text"
                d.warnings.append(d.reason)
            }
            d.mismatch = others(p, besides: [.text], in: "a text column")
            return d
        case .text:
            var d = ColumnDecision(type: .text, reason: "text column")
            d.mismatch = others(p, besides: [.text], in: "a text column")
            return d
        case .blob:
            var d = ColumnDecision(type: .bytea, reason: "BLOB column")
            if p.texts.count > 0 {
                d.warnings.append("\(p.texts.count) text values in this BLOB column are stored as their UTF-8 bytes")
            }
            d.mismatch = others(p, besides: [.blob, .text], in: "a BLOB column")
            return d
        case .none, .unknown:
            var d = holder(p)
            let what = declared == .none ? "no declared type" : "declared type \(declaredText) is not one migrate maps"
            d.reason = "\(what): \(d.reason)"
            d.warnings.append(d.reason)
            return d
        }
    }

    /// The type that holds every value present exactly.
    public static func holder(_ p: ColumnProfile) -> ColumnDecision {
        if p.nul.count > 0 || p.invalidUTF8.count > 0 {
            return ColumnDecision(type: .bytea, reason: "text with a NUL or invalid UTF-8 is only held by bytea (other values as their text's bytes)")
        }
        if p.blobs.count > 0 {
            let mixed = p.texts.count + p.integers.count + p.reals.count > 0
            return ColumnDecision(type: .bytea, reason: mixed ? "BLOBs beside other values: bytea, the others as their text's bytes" : "BLOB values")
        }
        if p.texts.count > 0 {
            let mixed = p.integers.count + p.reals.count > 0
            return ColumnDecision(type: .text, reason: mixed ? "text beside numbers: text, the numbers in their shortest exact form" : "text values")
        }
        if p.reals.count > 0 {
            if p.wideIntegers.count > 0 {
                return ColumnDecision(type: .numeric(precision: nil, scale: nil), reason: "decimals and integers beyond 2^53: numeric")
            }
            return ColumnDecision(type: .doublePrecision, reason: "floating-point values")
        }
        if p.integers.count > 0 { return ColumnDecision(type: .bigint, reason: "integer values") }
        return ColumnDecision(type: .text, reason: "no values to judge by: text")
    }

    private static func temporal(_ p: ColumnProfile, declaredText: String) -> ColumnDecision {
        let t = p.temporal
        var d = ColumnDecision(type: .timestamp, reason: "")
        var problems: [String] = []
        if let m = others(p, besides: [.integer, .text], in: "a \(declaredText) column") { problems.append(m) }
        if t.unreadable.count > 0 { problems.append("\(t.unreadable.count) values are not a date or time in a form migrate reads\(at(t.unreadable))") }
        if t.tooPrecise.count > 0 { problems.append("\(t.tooPrecise.count) values have more than 6 decimals of a second\(at(t.tooPrecise))") }
        let iso = t.dates.count + t.naiveDateTimes.count + t.offsetDateTimes.count + t.times.count
        if t.slashed.count > 0 {
            if iso > 0 { problems.append("\(t.slashed.count) slashed dates beside \(iso) ISO 8601 values\(at(t.slashed))") }
            switch (t.firstOver12.count > 0, t.secondOver12.count > 0) {
            case (true, true): problems.append("slashed dates in both orders (day first and month first)\(at(t.secondOver12))")
            case (false, false): problems.append("\(t.slashed.count) slashed dates that read both as month/day and day/month\(at(t.slashed))")
            case (true, false): d.temporal.slashOrder = .dayFirst
            case (false, true): d.temporal.slashOrder = .monthFirst
            }
            // The order fixed, each value must be a date in it (31/04 is not).
            if let order = d.temporal.slashOrder {
                let invalid = order == .dayFirst ? t.notADayFirstDate : t.notAMonthFirstDate
                if invalid.count > 0 { problems.append("\(invalid.count) slashed values are not dates in that order\(at(invalid))") }
            }
        }
        let epochs = t.epochSeconds.count + t.epochMilliseconds.count + t.epochZeros.count
        if t.compactDates.count > 0 {
            if epochs > 0 { problems.append("\(t.compactDates.count) YYYYMMDD integers beside \(epochs) epoch numbers\(at(t.compactDates))") }
            d.temporal.compactDates = true
        }
        if t.epochSeconds.count > 0, t.epochMilliseconds.count > 0 {
            problems.append("epoch numbers in both seconds and milliseconds\(at(t.epochSeconds))")
        }
        d.temporal.epochMilliseconds = t.epochMilliseconds.count > 0
        let unit = d.temporal.epochMilliseconds ? "milliseconds" : "seconds"
        let epochsWithTime = d.temporal.epochMilliseconds ? t.millisecondsWithTime.count : t.secondsWithTime.count
        let withTime = t.naiveDateTimes.count + t.offsetDateTimes.count + t.slashedWithTime.count + epochsWithTime
        var notes: [String] = []
        if epochs > 0 { notes.append("\(epochs) epoch numbers read as \(unit) since 1970 UTC") }
        if t.compactDates.count > 0 { notes.append("\(t.compactDates.count) integers read as YYYYMMDD dates") }
        if let order = d.temporal.slashOrder { notes.append("slashed dates read \(order == .dayFirst ? "day/month/year" : "month/day/year"), which some value fixes") }
        switch p.declared {
        case .time:
            d.type = .time
            d.reason = "every value is a time of day"
            if iso - t.times.count + t.slashed.count + epochs + t.compactDates.count > 0 {
                problems.append("values in a TIME column that are not times of day")
            }
        case .date where withTime == 0 && t.times.count == 0:
            d.type = .date
            d.reason = "every value is a date"
        default:
            if t.times.count > 0 { problems.append("\(t.times.count) times of day without a date\(at(t.times))") }
            if t.offsetDateTimes.count > 0, t.offsetDateTimes.count + epochs == p.valueCount {
                d.type = .timestamptz
                d.reason = "every value carries its UTC offset: timestamptz"
            } else {
                if t.offsetDateTimes.count > 0 {
                    problems.append("\(t.offsetDateTimes.count) values carry a UTC offset, others do not\(at(t.offsetDateTimes))")
                }
                d.type = .timestamp
                d.reason = p.declared == .date ? "a DATE column whose values carry times: timestamp" : "no value carries an offset: timestamp, never read in this machine's time zone"
                if p.declared == .date { d.warnings.append(d.reason) }
            }
        }
        if !notes.isEmpty { d.reason += "; " + notes.joined(separator: "; ") }
        if !problems.isEmpty { d.mismatch = problems.joined(separator: "; ") }
        return d
    }

    enum Class { case integer, real, text, blob }

    private static func others(_ p: ColumnProfile, besides allowed: Set<Class>, in what: String) -> String? {
        var parts: [String] = []
        if !allowed.contains(.integer), p.integers.count > 0 { parts.append("\(p.integers.count) integers\(at(p.integers))") }
        if !allowed.contains(.real), p.reals.count > 0 { parts.append("\(p.reals.count) reals\(at(p.reals))") }
        if !allowed.contains(.text), p.texts.count > 0 { parts.append("\(p.texts.count) text values\(at(p.texts))") }
        if !allowed.contains(.blob), p.blobs.count > 0 { parts.append("\(p.blobs.count) BLOBs\(at(p.blobs))") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ") + " in \(what)"
    }

    private static func textProblems(_ p: ColumnProfile) -> String {
        var parts: [String] = []
        if p.nul.count > 0 { parts.append("\(p.nul.count) text values hold a NUL byte\(at(p.nul))") }
        if p.invalidUTF8.count > 0 { parts.append("\(p.invalidUTF8.count) text values are not valid UTF-8\(at(p.invalidUTF8))") }
        return parts.joined(separator: ", ")
    }

    static func at(_ t: Tally) -> String { t.first.map { ", first at row \($0)" } ?? "" }

    private static func join(_ a: String?, _ b: String) -> String { a.map { "\($0); \(b)" } ?? b }
}
