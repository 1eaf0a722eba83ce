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
        var field = 0, fieldStart = 0, flushed = 0
        let count = row.count
        var i = 0
        while i <= count {
            // COPY text escapes tabs and newlines inside values, so raw ones only delimit.
            let atEnd = i == count || row[i] == 0x09 || row[i] == 0x0A
            if atEnd {
                if field < hashed.count, hashed[field], !Self.isNull(row, fieldStart, i) {
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: row[flushed..<fieldStart]))
                    hasher.update(data: try replacement(row, fieldStart, i, field: field))
                    flushed = i
                }
                if i == count || row[i] == 0x0A { break }
                field += 1
                fieldStart = i + 1
            }
            i += 1
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
        let valid = HexDigits.value.withUnsafeBufferPointer { table in
            scratch.withUnsafeMutableBufferPointer { out -> Bool in
                var bad: UInt8 = 0
                var p = start + 3
                for k in 0..<pairs {
                    let hi = table[Int(row[p])], lo = table[Int(row[p + 1])]
                    bad |= (hi | lo) & 0xF0
                    out[k] = hi << 4 | (lo & 0x0F)
                    p += 2
                }
                return bad == 0
            }
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
