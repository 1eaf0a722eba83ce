/// Hex text both ways, for the bytea paths (COPY's `\\x…` text) that handle gigabytes: lookup
/// tables rather than per-character parsing.
public enum HexDigits {
    /// Lowercase digits, by value.
    public static let lowercase: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of an ASCII hex digit (either case), or 0xFF for any other byte.
    public static let value: [UInt8] = (0..<256).map { c -> UInt8 in
        switch c {
        case 0x30...0x39: UInt8(c - 0x30)
        case 0x61...0x66: UInt8(c - 0x61 + 10)
        case 0x41...0x46: UInt8(c - 0x41 + 10)
        default: 0xFF
        }
    }

    /// Decodes the `hex.count / 2` digit pairs of `hex` into `out`, which has room for them.
    /// False if any byte is not a hex digit. Two digits per lookup: the table maps each pair of
    /// bytes, read as a native UInt16, to its value, or to 0x100 when either is not a digit.
    public static func decode(_ hex: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        pairValue.withUnsafeBufferPointer { table in
            var bad: UInt16 = 0
            for k in 0..<hex.count / 2 {
                let v = table[Int(hex.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))]
                bad |= v
                out[k] = UInt8(truncatingIfNeeded: v)
            }
            return bad < 0x100
        }
    }

    private static let pairValue: [UInt16] = (0..<65536).map { i -> UInt16 in
        // Memory order: the first digit is the low byte on little-endian machines.
        let pair = UInt16(i).littleEndian == UInt16(i) ? (i & 0xFF, i >> 8) : (i >> 8, i & 0xFF)
        let hi = value[pair.0], lo = value[pair.1]
        return hi > 15 || lo > 15 ? 0x100 : UInt16(hi) << 4 | UInt16(lo)
    }
}
