import Foundation

/// UTC timestamps as the archive writes them, to the millisecond. Fixed formats, no locale.
public enum Timestamp {
    private static var calendar: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }

    private struct Parts { var y, mo, d, h, mi, s, ms: Int }

    private static func parts(_ date: Date) -> Parts {
        // Whole milliseconds first, split with integer arithmetic, so seconds never reach 60.
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded())
        let whole = Date(timeIntervalSince1970: Double(ms.quotientFloor(1000)))
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
        return Parts(y: c.year!, mo: c.month!, d: c.day!, h: c.hour!, mi: c.minute!, s: c.second!,
                     ms: ms - ms.quotientFloor(1000) * 1000)
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// `2026-11-29T09:36:47.123Z`
    public static func iso8601(_ date: Date) -> String {
        let p = parts(date)
        return "\(pad(p.y, 4))-\(pad(p.mo, 2))-\(pad(p.d, 2))T\(pad(p.h, 2)):\(pad(p.mi, 2)):"
            + "\(pad(p.s, 2)).\(pad(p.ms, 3))Z"
    }

    /// `20261129T093647.123Z`, the form used in snapshot ids and file names.
    public static func compactUTC(_ date: Date) -> String {
        let p = parts(date)
        return "\(pad(p.y, 4))\(pad(p.mo, 2))\(pad(p.d, 2))T\(pad(p.h, 2))\(pad(p.mi, 2))"
            + "\(pad(p.s, 2)).\(pad(p.ms, 3))Z"
    }

    /// Parses `iso8601`'s form (`2026-11-29T09:36:47.123Z`, milliseconds optional).
    public static func parseISO(_ s: String) -> Date? {
        let u = Array(s.utf8)
        guard u.count >= 20, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T"),
              u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":") else { return nil }
        return parseCompactUTC(s.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: ""))
    }

    /// Parses `compactUTC` without its milliseconds and `Z` (`20261129T093647`) or in full.
    public static func parseCompactUTC(_ s: String) -> Date? {
        let u = Array(s.utf8)
        guard u.count >= 15 else { return nil }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: u[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(4..<6), let d = num(6..<8),
              let h = num(9..<11), let mi = num(11..<13), let sec = num(13..<15) else { return nil }
        var ms = 0
        if u.count >= 19, u[15] == UInt8(ascii: "."), let v = num(16..<19) { ms = v }
        let comps = DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: sec)
        guard let base = calendar.date(from: comps) else { return nil }
        return base.addingTimeInterval(Double(ms) / 1000)
    }
}

extension Int {
    fileprivate func quotientFloor(_ d: Int) -> Int {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
