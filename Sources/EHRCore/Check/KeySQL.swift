/// The SQL that normalises a rule's keys before both sides are sorted (docs/CHECK.md,
/// "Normalisation"): compared as text; integers in plain decimal form; text as it is, except
/// that uuid-shaped values are lowercased; NULL stays NULL (skipped and counted).
public enum KeySQL {
    static let hex = "[0-9A-Fa-f]"

    /// SQLite: `query` is the rule's query, `columns` how many columns it returns (a CTE's
    /// column list must name them all; the first is the key).
    public static func sqlite(_ query: String, columns: Int) -> String {
        let names = (0..<max(1, columns)).map { $0 == 0 ? "k" : "c\($0)" }.joined(separator: ", ")
        let glob = [8, 4, 4, 4, 12].map { String(repeating: hex, count: $0) }.joined(separator: "-")
        return """
            WITH q(\(names)) AS (\(trimmed(query)))
            SELECT n FROM (SELECT CASE
                WHEN typeof(k) = 'null' THEN NULL
                WHEN typeof(k) = 'integer' THEN CAST(k AS TEXT)
                WHEN typeof(k) = 'real' AND k = CAST(k AS INTEGER) AND abs(k) < 9.0e15 THEN CAST(CAST(k AS INTEGER) AS TEXT)
                WHEN typeof(k) = 'text' AND length(k) = 36 AND k GLOB '\(glob)' THEN lower(k)
                ELSE CAST(k AS TEXT) END AS n FROM q)
            ORDER BY n COLLATE BINARY
            """
    }

    /// PostgreSQL, streamed with COPY: integers' text form is already plain decimal, and a
    /// uuid's is lowercase.
    public static func postgres(_ query: String) -> String {
        let pattern = "^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$"
        return """
            COPY (WITH q(k) AS (\(trimmed(query)))
            SELECT n FROM (SELECT CASE WHEN k::text ~ '\(pattern)' THEN lower(k::text) ELSE k::text END AS n FROM q) s
            ORDER BY n COLLATE "C") TO STDOUT
            """
    }

    /// The query without trailing semicolons and blanks, so it can sit inside a WITH.
    public static func trimmed(_ query: String) -> String {
        var q = Substring(query)
        while let last = q.last, last == ";" || last.isWhitespace { q.removeLast() }
        return String(q)
    }

    /// One field of COPY's text format back to its bytes: nil for `\N`, escapes undone.
    public static func decodeCopyText(_ line: UnsafeRawBufferPointer) -> [UInt8]? {
        var end = line.count
        if end > 0, line[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        if end == 2, line[0] == UInt8(ascii: "\\"), line[1] == UInt8(ascii: "N") { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(end)
        var i = 0
        while i < end {
            let b = line[i]
            guard b == UInt8(ascii: "\\"), i + 1 < end else { out.append(b); i += 1; continue }
            let e = line[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "v"): out.append(11)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(e - UInt8(ascii: "0")), digits = 1
                while digits < 3, i < end, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(line[i]) {
                    value = value * 8 + Int(line[i] - UInt8(ascii: "0")); i += 1; digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            default: out.append(e)
            }
        }
        return out
    }
}
