#if canImport(Glibc)
import Glibc
#endif
import Crypto
import EHRCore

/// The SHA-256 of one COPY text row as it enters a table's ContentDigest, with binary (bytea)
/// columns taken by the SHA-256 of their bytes instead of their hex text: the field `\\x<hex>`
/// counts as `\\x<64 hex digits of SHA-256(bytes)>`, which is exactly what the server's COPY
/// prints for `pg_catalog.sha256(column)`. So a restore checks a bytea column by reading back 32
/// bytes per value instead of twice the value's size, and the proof is the same: the stored bytes
/// hash to what the snapshot's bytes hashed to. NULL (`\N`) stays as it is on both sides.
public struct RowHasher {
    /// By field number: is this field hashed by value?
    private let hashed: [Bool]
    private var scratch: [UInt8] = []

    /// `fields`: the positions, in the COPY column list, of the columns hashed by value.
    public init(hashedFields fields: [Int]) {
        var hashed = [Bool](repeating: false, count: (fields.max() ?? -1) + 1)
        for f in fields where f >= 0 { hashed[f] = true }
        self.hashed = hashed
    }

    public var hashesFields: Bool { !hashed.isEmpty }

    public mutating func add(row: UnsafeRawBufferPointer, to digest: inout ContentDigest) throws {
        guard hashesFields else { return digest.add(row: row) }
        digest.add(rowHash: try hash(row: row))
    }

    public mutating func hash(row: UnsafeRawBufferPointer) throws -> SHA256Digest {
        var hasher = SHA256()
        guard let base = row.baseAddress else { return hasher.finalize() }
        // COPY text escapes tabs and newlines inside values, so raw ones only delimit; memchr
        // skips over a long hex value without looking at each byte in Swift.
        let end = memchr(base, 0x0A, row.count).map { base.distance(to: UnsafeRawPointer($0)) } ?? row.count
        var field = 0, fieldStart = 0, flushed = 0
        while field < hashed.count, fieldStart <= end {
            let fieldEnd = memchr(base + fieldStart, 0x09, end - fieldStart).map { base.distance(to: UnsafeRawPointer($0)) } ?? end
            if hashed[field], !Self.isNull(row, fieldStart, fieldEnd) {
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: row[flushed..<fieldStart]))
                hasher.update(data: try replacement(row, fieldStart, fieldEnd, field: field))
                flushed = fieldEnd
            }
            field += 1
            fieldStart = fieldEnd + 1
        }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: row[flushed...]))
        return hasher.finalize()
    }

    private static func isNull(_ row: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        end - start == 2 && row[start] == 0x5C && row[start + 1] == 0x4E // \N
    }

    /// `\\x` + hex of SHA-256 of the bytes the field's hex text spells.
    private mutating func replacement(_ row: UnsafeRawBufferPointer, _ start: Int, _ end: Int, field: Int) throws -> [UInt8] {
        // COPY doubles the backslash of bytea's hex output: the field reads \\x followed by pairs.
        guard end - start >= 3, row[start] == 0x5C, row[start + 1] == 0x5C, row[start + 2] == 0x78,
              (end - start - 3) % 2 == 0 else {
            throw Self.badField(field)
        }
        let pairs = (end - start - 3) / 2
        if scratch.count < pairs { scratch = [UInt8](repeating: 0, count: pairs) }
        let valid = pairs == 0 || scratch.withUnsafeMutableBufferPointer { out in
            HexDigits.decode(UnsafeRawBufferPointer(rebasing: row[(start + 3)..<end]), into: out.baseAddress!)
        }
        guard valid else { throw Self.badField(field) }
        let digest = scratch.withUnsafeBytes { SHA256.hash(data: UnsafeRawBufferPointer(rebasing: $0[..<pairs])) }
        var text: [UInt8] = [0x5C, 0x5C, 0x78]
        text.reserveCapacity(3 + 64)
        for byte in digest {
            text.append(HexDigits.lowercase[Int(byte >> 4)])
            text.append(HexDigits.lowercase[Int(byte & 0x0F)])
        }
        return text
    }

    private static func badField(_ field: Int) -> EHRError {
        EHRError(.failure, "column \(field + 1) of a bytea row is not in hex format",
                 hint: "report this: COPY ran with bytea_output = hex")
    }
}
