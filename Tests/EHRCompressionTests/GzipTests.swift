import EHRCompression
import EHRTestSupport
import Foundation
import Testing

@Suite struct GzipTests {
    func sample(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var state = seed
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            // Half text-like, half noise, so deflate has something to do.
            return i % 2 == 0 ? UInt8(97 + (i / 7) % 26) : UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test func memberRoundTripsAndIsReproducible() throws {
        let input = sample(300_000)
        let a = try GzipMemberCompressor(level: 6).compressMember(input)
        let b = try GzipMemberCompressor(level: 6).compressMember(input)
        #expect(a == b)
        var out: [UInt8] = []
        let decompressor = try GzipMemberDecompressor(chunkSize: 4096)
        let n = try a.withUnsafeBytes { try decompressor.decompressMember($0) { out.append(contentsOf: $0) } }
        #expect(n == input.count)
        #expect(out == input)
    }

    @Test func headerHasNoTimeAndNoName() throws {
        let member = try GzipMemberCompressor().compressMember(Array("hello".utf8))
        #expect(member[0] == 0x1f && member[1] == 0x8b && member[2] == 8)
        #expect(member[3] == 0) // FLG: no FNAME, FEXTRA, FCOMMENT
        #expect(member[4..<8].allSatisfy { $0 == 0 }) // MTIME 0
    }

    @Test func concatenatedMembersAreOneFileForSystemGunzip() throws {
        let dir = TempDirectory()
        let compressor = try GzipMemberCompressor(level: 1)
        let parts = [sample(100_000, seed: 2), [], sample(5, seed: 3), sample(70_000, seed: 4)]
        var file: [UInt8] = []
        for part in parts { try part.withUnsafeBytes { _ = try compressor.compressMember($0, appendingTo: &file) } }
        try Data(file).write(to: URL(fileURLWithPath: dir.file("x.gz")))
        let r = try Run.program("/bin/sh", ["-c", "gunzip -c '\(dir.file("x.gz"))' | sha256sum"])
        #expect(r.status == 0)
        try Data(parts.flatMap { $0 }).write(to: URL(fileURLWithPath: dir.file("raw")))
        let raw = try Run.program("/bin/sh", ["-c", "sha256sum < '\(dir.file("raw"))'"])
        #expect(r.stdout == raw.stdout)
    }

    @Test func damagedOrTruncatedMemberIsAnError() throws {
        let member = try GzipMemberCompressor().compressMember(sample(50_000))
        let decompressor = try GzipMemberDecompressor()
        var flipped = member
        flipped[member.count / 2] ^= 0x40
        #expect(throws: GzipError.self) {
            try flipped.withUnsafeBytes { _ = try decompressor.decompressMember($0) { _ in } }
        }
        let truncated = Array(member.dropLast(9))
        #expect(throws: GzipError.self) {
            try truncated.withUnsafeBytes { _ = try decompressor.decompressMember($0) { _ in } }
        }
        let trailing = member + [0x1f]
        #expect(throws: GzipError.self) {
            try trailing.withUnsafeBytes { _ = try decompressor.decompressMember($0) { _ in } }
        }
        // The decompressor is still usable after errors.
        var out: [UInt8] = []
        try member.withUnsafeBytes { _ = try decompressor.decompressMember($0) { out.append(contentsOf: $0) } }
        #expect(out == sample(50_000))
    }

    /// The whole-member path (libdeflate) a restore reads with: the same bytes as zlib's, the
    /// same damage refused, a member longer than its room is `MemberOverflow`.
    @Test func wholeMemberIntoItsRecordedSize() throws {
        let input = sample(200_000, seed: 5)
        let member = try GzipMemberCompressor(level: 6).compressMember(input)
        let decompressor = try GzipMemberDecompressor()
        func inflate(_ bytes: [UInt8], room: Int) throws -> [UInt8] {
            try [UInt8](unsafeUninitializedCapacity: room) { out, count in
                count = 0
                count = try bytes.withUnsafeBytes { try decompressor.decompressMember($0, into: UnsafeMutableRawBufferPointer(out)) }
            }
        }
        #expect(try inflate(member, room: input.count) == input)
        #expect(try inflate(member, room: input.count + 10) == input) // shorter than the room: the caller sees the count
        #expect(throws: MemberOverflow.self) { try inflate(member, room: input.count - 1) }
        var flipped = member
        flipped[member.count / 2] ^= 0x40
        #expect(throws: GzipError.self) { try inflate(flipped, room: input.count) }
        var badCRC = member
        badCRC[member.count - 6] ^= 0x01
        #expect(throws: GzipError.self) { try inflate(badCRC, room: input.count) }
        #expect(throws: GzipError.self) { try inflate(Array(member.dropLast(9)), room: input.count) }
        #expect(throws: GzipError.self) { try inflate(member + [0x1f], room: input.count) }
        #expect(try inflate(member, room: input.count) == input)
    }
}
