#if canImport(Glibc)
import Glibc
#endif
import EHRCore

/// Turns COPY text rows into COPY BINARY tuples for tables whose columns are all of a few plain
/// types. Why: a bytea value in COPY text is hex, twice its size, and the server parses it one
/// character at a time; in binary it is copied as is. For a table of documents that cuts the
/// server's work by more than half (docs/POSTGRES.md has the figures). The snapshot stays COPY
/// text, the portable format; this is only how a restore sends it.
///
/// Rows are fed in any pieces; a row may span pieces. The text is what `COPY … TO` printed under
/// the snapshot's settings (hex bytea, ISO dates, UTF8), so a field the encoder does not expect is
/// an error, never a guess.
public struct CopyBinaryEncoder {
    /// The binary send formats this encoder writes, by the column's (base) type.
    public enum FieldType: Sendable {
        case bool, int2, int4, int8, float4, float8, text, bytea

        /// The type for a `pg_type` oid (a domain's base type), or nil when text COPY must be used.
        public init?(oid: Int) {
            switch oid {
            case 16: self = .bool
            case 17: self = .bytea
            case 20: self = .int8
            case 21: self = .int2
            case 23: self = .int4
            case 25, 1042, 1043: self = .text // text, char(n), varchar(n): same wire format
            case 700: self = .float4
            case 701: self = .float8
            default: return nil
            }
        }
    }

    public struct EncodingError: Error, CustomStringConvertible {
        public var description: String
    }

    private let types: [FieldType]
    private var partial: [UInt8] = []
    private var out: [UInt8] = []
    private var field: [UInt8] = []
    private var startedOutput = false
    private let flushAt = 1 << 20

    public init(types: [FieldType]) {
        self.types = types
        out.reserveCapacity(flushAt + 65536)
    }

    /// PGCOPY signature, flags, header extension length.
    private static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]

    /// Encodes the complete rows in `bytes` (keeping an unfinished last row for the next call).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if !startedOutput {
            out.append(contentsOf: Self.header)
            startedOutput = true
        }
        var start = 0
        if !partial.isEmpty {
            guard let end = bytes.firstIndex(of: 0x0A) else {
                partial.append(contentsOf: bytes)
                return
            }
            partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[...end]))
            let row = partial
            partial = []
            try row.withUnsafeBytes { try encodeRows($0, emit: emit) }
            start = end + 1
        }
        guard start < bytes.count else { return }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
        guard let last = rest.lastIndex(of: 0x0A) else {
            partial.append(contentsOf: rest)
            return
        }
        try encodeRows(UnsafeRawBufferPointer(rebasing: rest[...last]), emit: emit)
        partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[(last + 1)...]))
    }

    /// Writes the trailer and whatever is buffered; an unfinished row is an error.
    public mutating func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard partial.isEmpty else { throw EncodingError(description: "the data ends inside a row") }
        if !startedOutput { out.append(contentsOf: Self.header) }
        out.append(contentsOf: [0xFF, 0xFF])
        try out.withUnsafeBytes { try emit($0) }
        out.removeAll(keepingCapacity: true)
    }

    /// `rows`: whole rows, each ending with a newline.
    private mutating func encodeRows(_ rows: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = rows.baseAddress else { return }
        var i = 0
        let n = rows.count
        while i < n {
            // COPY text escapes tabs and newlines inside values, so raw ones only delimit; memchr
            // finds them without looking at every byte of a long value in Swift.
            guard let newline = memchr(base + i, 0x0A, n - i) else { throw EncodingError(description: "a row has no end") }
            let rowEnd = base.distance(to: UnsafeRawPointer(newline))
            appendBigEndian(UInt16(types.count))
            var column = 0
            while true {
                let tab = memchr(base + i, 0x09, rowEnd - i)
                let end = tab.map { base.distance(to: UnsafeRawPointer($0)) } ?? rowEnd
                guard column < types.count else { throw EncodingError(description: "a row has more fields than the table") }
                let text = UnsafeRawBufferPointer(start: base + i, count: end - i)
                let type = types[column]
                let escaped = type != .bytea && memchr(base + i, 0x5C, end - i) != nil
                try encodeField(text, escaped: escaped, as: type)
                column += 1
                i = end + 1
                if end == rowEnd { break }
            }
            guard column == types.count else { throw EncodingError(description: "a row has fewer fields than the table") }
            if out.count >= flushAt {
                try out.withUnsafeBytes { try emit($0) }
                out.removeAll(keepingCapacity: true)
            }
        }
    }

    private mutating func encodeField(_ text: UnsafeRawBufferPointer, escaped: Bool, as type: FieldType) throws {
        if text.count == 2, text[0] == 0x5C, text[1] == 0x4E { // \N
            appendBigEndian(UInt32(bitPattern: -1))
            return
        }
        if escaped {
            unescape(text)
            try field.withUnsafeBytes { try encodeValue($0, as: type) }
        } else {
            try encodeValue(text, as: type)
        }
    }

    private mutating func encodeValue(_ value: UnsafeRawBufferPointer, as type: FieldType) throws {
        switch type {
        case .text:
            appendBigEndian(UInt32(value.count))
            out.append(contentsOf: value)
        case .bytea:
            try appendBytea(value)
        case .bool:
            guard value.count == 1, value[0] == 0x74 || value[0] == 0x66 else { throw Self.bad("boolean") }
            appendBigEndian(UInt32(1))
            out.append(value[0] == 0x74 ? 1 : 0)
        case .int2:
            let v = try Self.integer(value, min: Int64(Int16.min), max: Int64(Int16.max), type: "smallint")
            appendBigEndian(UInt32(2))
            appendBigEndian(UInt16(bitPattern: Int16(v)))
        case .int4:
            let v = try Self.integer(value, min: Int64(Int32.min), max: Int64(Int32.max), type: "integer")
            appendBigEndian(UInt32(4))
            appendBigEndian(UInt32(bitPattern: Int32(v)))
        case .int8:
            let v = try Self.integer(value, min: Int64.min, max: Int64.max, type: "bigint")
            appendBigEndian(UInt32(8))
            appendBigEndian(UInt64(bitPattern: v))
        case .float4:
            // extra_float_digits 3 prints the shortest text that reads back exactly.
            guard let v = Float(String(decoding: value, as: UTF8.self)) else { throw Self.bad("real") }
            appendBigEndian(UInt32(4))
            appendBigEndian(v.bitPattern)
        case .float8:
            guard let v = Double(String(decoding: value, as: UTF8.self)) else { throw Self.bad("double precision") }
            appendBigEndian(UInt32(8))
            appendBigEndian(v.bitPattern)
        }
    }

    /// bytea as COPY prints it: `\\x` (COPY doubles bytea's backslash) and hex pairs, which
    /// need no unescaping.
    private mutating func appendBytea(_ text: UnsafeRawBufferPointer) throws {
        guard text.count >= 3, text[0] == 0x5C, text[1] == 0x5C, text[2] == 0x78, text.count % 2 == 1 else {
            throw Self.bad("bytea")
        }
        let pairs = (text.count - 3) / 2
        appendBigEndian(UInt32(pairs))
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: pairs))
        let valid = out.withUnsafeMutableBufferPointer { dest in
            HexDigits.decode(UnsafeRawBufferPointer(rebasing: text[3...]), into: dest.baseAddress! + base)
        }
        guard valid else { throw Self.bad("bytea") }
    }

    /// COPY text's escapes: \b \f \n \r \t \v, \ and 1-3 octal digits, \x and 1-2 hex digits;
    /// a backslash before anything else stands for that character.
    private mutating func unescape(_ text: UnsafeRawBufferPointer) {
        field.removeAll(keepingCapacity: true)
        var i = 0
        let n = text.count
        while i < n {
            // Copy the run up to the next backslash in one go.
            var j = i
            while j < n, text[j] != 0x5C { j += 1 }
            if j > i { field.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[i..<j])) }
            i = j + 1
            guard j < n, i < n else {
                if j < n { field.append(0x5C) }
                break
            }
            let e = text[i]
            i += 1
            switch e {
            case 0x62: field.append(0x08) // b
            case 0x66: field.append(0x0C) // f
            case 0x6E: field.append(0x0A) // n
            case 0x72: field.append(0x0D) // r
            case 0x74: field.append(0x09) // t
            case 0x76: field.append(0x0B) // v
            case 0x30...0x37:
                var v = Int(e - 0x30)
                for _ in 0..<2 where i < n && (0x30...0x37).contains(text[i]) {
                    v = v * 8 + Int(text[i] - 0x30)
                    i += 1
                }
                field.append(UInt8(truncatingIfNeeded: v))
            case 0x78 where i < n && HexDigits.value[Int(text[i])] < 16: // x
                var v = Int(HexDigits.value[Int(text[i])])
                i += 1
                if i < n, HexDigits.value[Int(text[i])] < 16 {
                    v = v * 16 + Int(HexDigits.value[Int(text[i])])
                    i += 1
                }
                field.append(UInt8(v))
            default: field.append(e)
            }
        }
    }

    private static func integer(_ text: UnsafeRawBufferPointer, min: Int64, max: Int64, type: String) throws -> Int64 {
        var i = 0
        let negative = text.first == 0x2D
        if negative { i = 1 }
        guard i < text.count else { throw bad(type) }
        // Accumulate negatively so that Int64.min fits.
        var v: Int64 = 0
        while i < text.count {
            let d = text[i] &- 0x30
            guard d < 10 else { throw bad(type) }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(d))
            guard !o1, !o2 else { throw bad(type) }
            v = s
            i += 1
        }
        if !negative {
            guard v != Int64.min else { throw bad(type) }
            v = -v
        }
        guard v >= min, v <= max else { throw bad(type) }
        return v
    }

    private static func bad(_ type: String) -> EncodingError {
        EncodingError(description: "a \(type) value is not in the form COPY prints")
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }
}
