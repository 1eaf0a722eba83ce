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
}
