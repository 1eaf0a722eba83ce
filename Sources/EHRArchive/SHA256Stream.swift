import Crypto

/// Incremental SHA-256 with a hex result, the form the manifest stores.
public struct SHA256Stream {
    private var hasher = SHA256()
    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) } }

    public func hex() -> String {
        hasher.finalize().map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    public static func hex(of bytes: [UInt8]) -> String {
        var s = SHA256Stream()
        s.update(bytes)
        return s.hex()
    }
}
