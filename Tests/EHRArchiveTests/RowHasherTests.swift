import EHRArchive
import Testing

/// RowHasher must give exactly the digest of the row with each hashed bytea field replaced by
/// what the server prints for `sha256(column)`: `\\x` and 64 hex digits. The expected rows here
/// are built by hand from SHA256Stream, not by RowHasher.
@Suite struct RowHasherTests {
    func digest(_ rows: [String], hashing fields: [Int]) throws -> String {
        var hasher = RowHasher(hashedFields: fields)
        var digest = ContentDigest()
        for row in rows {
            try Array(row.utf8).withUnsafeBytes { try hasher.add(row: $0, to: &digest) }
        }
        return digest.text
    }

    func plain(_ rows: [String]) -> String {
        var digest = ContentDigest()
        for row in rows { Array(row.utf8).withUnsafeBytes { digest.add(row: $0) } }
        return digest.text
    }

    /// What COPY prints for sha256() of these bytes.
    func serverHash(_ bytes: [UInt8]) -> String { "\\\\x" + SHA256Stream.hex(of: bytes) }

    @Test func byteaFieldsCountByTheirHash() throws {
        let rows = ["1\tscan\t\\\\x00ff41\t\\N\n", "2\t\\N\t\\\\x\tlast\n", "3\tx\t\\N\tz\n"]
        let expected = [
            "1\tscan\t\(serverHash([0x00, 0xFF, 0x41]))\t\\N\n",
            "2\t\\N\t\(serverHash([]))\tlast\n",
            "3\tx\t\\N\tz\n",
        ]
        #expect(try digest(rows, hashing: [2]) == plain(expected))
        // Not hashing gives the plain digest, which differs.
        #expect(try digest(rows, hashing: []) == plain(rows))
        #expect(plain(rows) != plain(expected))
    }

    @Test func firstAndLastFieldsAndUpperCaseHex() throws {
        let rows = ["\\\\xABcd\t7\t\\\\x01\n"]
        let expected = ["\(serverHash([0xAB, 0xCD]))\t7\t\(serverHash([0x01]))\n"]
        #expect(try digest(rows, hashing: [0, 2]) == plain(expected))
    }

    @Test(arguments: ["1\t\\\\x0g\n", "1\t\\\\x012\n", "1\tplain text\n", "1\t\\x00\n"])
    func aFieldThatIsNotHexIsAnError(row: String) {
        #expect(throws: (any Error).self) { try digest([row], hashing: [1]) }
    }
}
