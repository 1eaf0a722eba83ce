/// A number as decimal digits: `digits` × 10^`exponent`, no leading or trailing zeros in
/// `digits` (zero has none). From a Double it is the shortest decimal that reads back as the same
/// Double, which is what "the value" of a REAL means to anyone reading it (19.99, not
/// 19.989999999999998436805981327779591083526611328125).
public struct DecimalText: Equatable, Sendable {
    public var negative: Bool
    public var digits: [UInt8]
    public var exponent: Int

    public init(_ v: Int64) {
        negative = v < 0
        var m = v.magnitude
        var d: [UInt8] = []
        while m > 0 { d.append(UInt8(m % 10)); m /= 10 }
        digits = d.reversed()
        exponent = 0
        normalize()
    }

    /// nil for infinities and NaN.
    public init?(_ v: Double) {
        guard v.isFinite else { return nil }
        negative = v.sign == .minus && v != 0
        // Swift's description is the shortest round-trip text: "1.5", "1e-05", "1.2345e+20".
        let text = "\(v.magnitude)"
        var mantissa: [UInt8] = [], pointAt: Int?, exp = 0
        var chars = Substring(text)
        if let e = chars.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp = Int(chars[chars.index(after: e)...]) ?? 0
            chars = chars[..<e]
        }
        for c in chars {
            if c == "." { pointAt = mantissa.count } else if let d = c.wholeNumberValue { mantissa.append(UInt8(d)) }
        }
        digits = mantissa
        exponent = exp - (mantissa.count - (pointAt ?? mantissa.count))
        normalize()
    }

    private mutating func normalize() {
        while let last = digits.last, last == 0 { digits.removeLast(); exponent += 1 }
        if let first = digits.firstIndex(where: { $0 != 0 }) { digits.removeFirst(first) } else { digits = []; exponent = 0; negative = false }
    }

    /// Digits before the point (0 for |v| < 1).
    public var integerDigits: Int { max(0, digits.count + exponent) }
    /// Digits after the point.
    public var fractionDigits: Int { max(0, -exponent) }

    /// Plain notation, no exponent: "-0.00001", "120".
    public var plain: String {
        if digits.isEmpty { return "0" }
        var s = negative ? "-" : ""
        let intCount = digits.count + exponent
        if intCount <= 0 {
            s += "0." + String(repeating: "0", count: -intCount) + digits.map(String.init).joined()
        } else if exponent >= 0 {
            s += digits.map(String.init).joined() + String(repeating: "0", count: exponent)
        } else {
            let all = digits.map(String.init)
            s += all[..<intCount].joined() + "." + all[intCount...].joined()
        }
        return s
    }

    /// Whether NUMERIC(precision, scale) holds this value unchanged.
    public func fits(precision: Int, scale: Int) -> Bool {
        fractionDigits <= scale && integerDigits <= precision - scale
    }

    /// PostgreSQL's binary `numeric` (numeric_send): ndigits, weight, sign, dscale, then base-10000
    /// digits, with no leading or trailing zero digit: the form the server sends back, so that
    /// the bytes loaded and the bytes read back compare equal.
    public func postgresBinary(scale: Int, into out: inout [UInt8]) {
        // Decimal digits aligned at the point, padded to groups of four on both sides.
        let intCount = digits.count + exponent
        let leadPad = intCount > 0 ? (4 - intCount % 4) % 4 : 0
        let fracCount = max(0, -exponent)
        let trailPad = (4 - fracCount % 4) % 4
        var all = [UInt8](repeating: 0, count: leadPad)
        if intCount < 0 { all.append(contentsOf: repeatElement(0, count: -intCount)) }
        all.append(contentsOf: digits)
        if exponent > 0 { all.append(contentsOf: repeatElement(0, count: exponent)) }
        all.append(contentsOf: repeatElement(0, count: trailPad))
        var groups: [UInt16] = []
        groups.reserveCapacity(all.count / 4)
        var i = 0
        while i < all.count {
            groups.append(UInt16(all[i]) * 1000 + UInt16(all[i + 1]) * 100 + UInt16(all[i + 2]) * 10 + UInt16(all[i + 3]))
            i += 4
        }
        let intGroups = intCount > 0 ? (intCount + leadPad) / 4 : 0
        var weight = intGroups - 1
        var start = 0, end = groups.count
        while start < end, groups[start] == 0 { start += 1; weight -= 1 }
        while end > start, groups[end - 1] == 0 { end -= 1 }
        if start == end { weight = 0 }
        func put(_ v: UInt16) { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xFF)) }
        put(UInt16(end - start))
        put(UInt16(bitPattern: Int16(weight)))
        put(negative && start < end ? 0x4000 : 0x0000)
        put(UInt16(scale))
        for g in groups[start..<end] { put(g) }
    }

    /// numeric_send of ±Infinity, byte for byte: the server reports a dscale of 32 for the
    /// special values (NUMERIC_DSCALE reads it from the short header 0xD000/0xF000), so that is
    /// what the parity proof reads back.
    public static func postgresInfinity(negative: Bool, into out: inout [UInt8]) {
        out.append(contentsOf: [0, 0, 0, 0, negative ? 0xF0 : 0xD0, 0, 0, 0x20])
    }
}

extension Double {
    /// The text a REAL becomes in a text column: the shortest decimal that reads back exactly;
    /// Infinity and -Infinity spelled as PostgreSQL reads them.
    public var exactText: String {
        if self == .infinity { return "Infinity" }
        if self == -.infinity { return "-Infinity" }
        return "\(self)"
    }
}
