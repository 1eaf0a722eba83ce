/// How many values showed something, and where the first one was (a row's rowid, or its
/// position for WITHOUT ROWID tables): never the value itself.
public struct Tally: Sendable, Equatable {
    public var count: Int64 = 0
    public var first: Int64?

    mutating func note(_ position: Int64) {
        count += 1
        if first.map({ position < $0 }) ?? true { first = position }
    }

    mutating func merge(_ other: Tally) {
        count += other.count
        if let f = other.first, first.map({ f < $0 }) ?? true { first = f }
    }
}

/// What one read pass learned about a column's values: the storage classes present and the
/// forms found, enough to choose a PostgreSQL type that holds them. Profiles of parts of a table
/// merge into the table's.
public struct ColumnProfile: Sendable {
    public let declared: DeclaredType
    public var nulls: Int64 = 0
    public var integers = Tally(), reals = Tally(), texts = Tally(), blobs = Tally()
    public var minInteger = Int64.max, maxInteger = Int64.min
    /// Integers a Double cannot hold exactly (|v| > 2^53).
    public var wideIntegers = Tally()
    public var infinities = Tally(), nonIntegralReals = Tally()
    /// Shortest round-trip decimals' widest integer and fraction parts (numeric columns only).
    public var maxIntegerDigits = 0, maxFractionDigits = 0
    public var maxCharacters = 0
    public var nul = Tally(), invalidUTF8 = Tally()
    /// Values that are not a boolean spelling (boolean columns only).
    public var notBoolean = Tally()
    public var temporal = TemporalProfile()

    public init(declared: DeclaredType) { self.declared = declared }

    public var valueCount: Int64 { integers.count + reals.count + texts.count + blobs.count }

    public mutating func add(_ value: SQLiteValue, at position: Int64) {
        switch value {
        case .null: nulls += 1
        case .integer(let v):
            integers.note(position)
            if v < minInteger { minInteger = v }
            if v > maxInteger { maxInteger = v }
            if v.magnitude > 1 << 53 { wideIntegers.note(position) }
            if case .numeric = declared { noteDigits(DecimalText(v)) }
            if declared == .boolean, v != 0, v != 1 { notBoolean.note(position) }
            if declared.isTemporal { temporal.add(integer: v, declared: declared, at: position) }
        case .real(let v):
            reals.note(position)
            if !v.isFinite { infinities.note(position) } else if v.rounded(.towardZero) != v { nonIntegralReals.note(position) }
            if case .numeric = declared, let d = DecimalText(v) { noteDigits(d) }
            if declared == .boolean { notBoolean.note(position) }
        case .text(let b):
            texts.note(position)
            let (chars, valid, hasNul) = UTF8Check.scan(b)
            if !valid { invalidUTF8.note(position) }
            if hasNul { nul.note(position) }
            if chars > maxCharacters { maxCharacters = chars }
            if declared == .boolean, BooleanText.read(b) == nil { notBoolean.note(position) }
            if declared.isTemporal { temporal.add(text: b, at: position) }
        case .blob:
            blobs.note(position)
            if declared == .boolean { notBoolean.note(position) }
        }
    }

    private mutating func noteDigits(_ d: DecimalText) {
        maxIntegerDigits = max(maxIntegerDigits, d.integerDigits)
        maxFractionDigits = max(maxFractionDigits, d.fractionDigits)
    }

    public mutating func merge(_ o: ColumnProfile) {
        nulls += o.nulls
        integers.merge(o.integers); reals.merge(o.reals); texts.merge(o.texts); blobs.merge(o.blobs)
        minInteger = min(minInteger, o.minInteger); maxInteger = max(maxInteger, o.maxInteger)
        wideIntegers.merge(o.wideIntegers); infinities.merge(o.infinities); nonIntegralReals.merge(o.nonIntegralReals)
        maxIntegerDigits = max(maxIntegerDigits, o.maxIntegerDigits); maxFractionDigits = max(maxFractionDigits, o.maxFractionDigits)
        maxCharacters = max(maxCharacters, o.maxCharacters)
        nul.merge(o.nul); invalidUTF8.merge(o.invalidUTF8); notBoolean.merge(o.notBoolean)
        temporal.merge(o.temporal)
    }
}

/// The forms of the values of a DATE, DATETIME or TIME column.
public struct TemporalProfile: Sendable {
    public var dates = Tally(), naiveDateTimes = Tally(), offsetDateTimes = Tally(), times = Tally()
    public var slashed = Tally()
    /// Slashed dates whose first / second part is over 12, so cannot be the month.
    public var firstOver12 = Tally(), secondOver12 = Tally()
    public var slashedWithTime = Tally()
    /// Slashed values that are no date when read month first / day first (31/04, a year 0).
    public var notAMonthFirstDate = Tally(), notADayFirstDate = Tally()
    public var tooPrecise = Tally(), unreadable = Tally()
    public var compactDates = Tally()
    public var epochSeconds = Tally(), epochMilliseconds = Tally()
    /// 0 reads as 1970-01-01 in either unit: it does not vote for one.
    public var epochZeros = Tally()
    /// Epochs that are not at a UTC midnight, by unit.
    public var secondsWithTime = Tally(), millisecondsWithTime = Tally()

    mutating func add(integer v: Int64, declared: DeclaredType, at position: Int64) {
        if declared == .date, TemporalText.compactDate(v) != nil { return compactDates.note(position) }
        if v == 0 { return epochZeros.note(position) }
        if v.magnitude >= TemporalText.millisecondThreshold {
            epochMilliseconds.note(position)
            if v % 86_400_000 != 0 { millisecondsWithTime.note(position) }
        } else {
            epochSeconds.note(position)
            if v % 86_400 != 0 { secondsWithTime.note(position) }
        }
    }

    mutating func add(text b: UnsafeRawBufferPointer, at position: Int64) {
        switch TemporalText.read(b) {
        case .iso(let t):
            if !t.hasDate { times.note(position) } else if !t.hasTime { dates.note(position) } else if t.offsetMinutes != nil {
                offsetDateTimes.note(position)
            } else { naiveDateTimes.note(position) }
        case .slashed(let a, let b, let rest):
            slashed.note(position)
            if a > 12 { firstOver12.note(position) }
            if b > 12 { secondOver12.note(position) }
            if rest.hasTime { slashedWithTime.note(position) }
            if TemporalText.resolve(a: a, b: b, rest: rest, order: .monthFirst) == nil { notAMonthFirstDate.note(position) }
            if TemporalText.resolve(a: a, b: b, rest: rest, order: .dayFirst) == nil { notADayFirstDate.note(position) }
            if a == 0 || b == 0 || a > 31 || b > 31 { unreadable.note(position) }
        case .tooPrecise: tooPrecise.note(position)
        case .unreadable: unreadable.note(position)
        }
    }

    mutating func merge(_ o: TemporalProfile) {
        dates.merge(o.dates); naiveDateTimes.merge(o.naiveDateTimes); offsetDateTimes.merge(o.offsetDateTimes)
        times.merge(o.times); slashed.merge(o.slashed); firstOver12.merge(o.firstOver12); secondOver12.merge(o.secondOver12)
        slashedWithTime.merge(o.slashedWithTime); notAMonthFirstDate.merge(o.notAMonthFirstDate); notADayFirstDate.merge(o.notADayFirstDate); tooPrecise.merge(o.tooPrecise); unreadable.merge(o.unreadable)
        compactDates.merge(o.compactDates); epochSeconds.merge(o.epochSeconds); epochMilliseconds.merge(o.epochMilliseconds); epochZeros.merge(o.epochZeros)
        secondsWithTime.merge(o.secondsWithTime); millisecondsWithTime.merge(o.millisecondsWithTime)
    }
}

/// Boolean spellings: 't'/'f', 'true'/'false' in any case.
public enum BooleanText {
    public static func read(_ b: UnsafeRawBufferPointer) -> Bool? {
        func lower(_ i: Int) -> UInt8 { b[i] | 0x20 }
        switch b.count {
        case 1: return lower(0) == 0x74 ? true : lower(0) == 0x66 ? false : nil
        case 4: return (0..<4).allSatisfy({ lower($0) == Array("true".utf8)[$0] }) ? true : nil
        case 5: return (0..<5).allSatisfy({ lower($0) == Array("false".utf8)[$0] }) ? false : nil
        default: return nil
        }
    }
}

/// UTF-8 validity, NUL bytes and the number of characters (code points, which is what
/// PostgreSQL's varchar(n) counts), in one pass.
public enum UTF8Check {
    public static func scan(_ b: UnsafeRawBufferPointer) -> (characters: Int, valid: Bool, hasNul: Bool) {
        var i = 0, chars = 0, valid = true, nul = false
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 {
                if c == 0 { nul = true }
                i += 1
            } else {
                let len: Int, minValue: UInt32
                var v: UInt32
                if c & 0xE0 == 0xC0 { len = 2; v = UInt32(c & 0x1F); minValue = 0x80 } else if c & 0xF0 == 0xE0 {
                    len = 3; v = UInt32(c & 0x0F); minValue = 0x800
                } else if c & 0xF8 == 0xF0 { len = 4; v = UInt32(c & 0x07); minValue = 0x10000 } else { valid = false; i += 1; chars += 1; continue }
                guard i + len <= n else { valid = false; break }
                var ok = true
                for k in 1..<len {
                    let cc = b[i + k]
                    if cc & 0xC0 != 0x80 { ok = false; break }
                    v = v << 6 | UInt32(cc & 0x3F)
                }
                if !ok || v < minValue || v > 0x10FFFF || (0xD800...0xDFFF).contains(v) { valid = false }
                i += ok ? len : 1
            }
            chars += 1
        }
        return (chars, valid, nul)
    }
}
