import EHRArchive
import EHRCore
import EHRTestSupport
import Foundation
import Testing

@Suite struct ArchiveTests {
    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test func createMakesOwnerOnlyLayoutAndReopens() throws {
        let dir = TempDirectory()
        let root = dir.file("a/b/archive")
        let (archive, created) = try Archive.create(at: root)
        #expect(created)
        #expect(try mode(root) == 0o700)
        #expect(try mode(archive.snapshotsDirectory) == 0o700)
        #expect(try mode(archive.markerPath) == 0o600)
        #expect(try Archive.create(at: root).created == false)
        #expect(try Archive.open(at: root).snapshotIDs().isEmpty)
    }

    @Test func newerArchiveVersionIsRefused() throws {
        let dir = TempDirectory()
        let (archive, _) = try Archive.create(at: dir.file("arch"))
        let marker = #"{"format":"ehrdata-archive","version":7,"createdAt":"x","archiveID":"y","tool":"z"}"#
        try marker.write(toFile: archive.markerPath, atomically: true, encoding: .utf8)
        do {
            _ = try Archive.open(at: archive.root)
            Issue.record("opened a version 7 archive")
        } catch let e as EHRError {
            #expect(e.kind == .unsupportedFormat)
            #expect(e.message.contains("version 7"))
        }
    }

    @Test func createRefusesANonEmptyForeignDirectory() throws {
        let dir = TempDirectory()
        try dir.write("x", to: "something")
        #expect(throws: EHRError.self) { try Archive.create(at: dir.path) }
    }

    func writeDataFile(_ bytes: [UInt8], memberSize: Int, in dir: TempDirectory) throws -> Manifest.File {
        let writer = try DataFileWriter(path: dir.file("d.gz"), relativePath: "data/d.gz", role: "test",
                                        level: 6, memberSize: memberSize)
        // Feed in uneven pieces to exercise slicing across member boundaries.
        var offset = 0, piece = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + piece)
            try bytes[offset..<end].withUnsafeBytes { try writer.write($0) }
            offset = end
            piece = piece * 3 + 7
        }
        return try writer.finish()
    }

    @Test func dataFileRoundTripsWithMemberIndexAndDigests() throws {
        let dir = TempDirectory()
        let input = (0..<1_000_000).map { UInt8(truncatingIfNeeded: ($0 * 31) ^ ($0 >> 9)) }
        let entry = try writeDataFile(input, memberSize: 256 * 1024, in: dir)
        #expect(entry.members.count == 4)
        #expect(entry.members.map(\.uncompressedSize) == [262_144, 262_144, 262_144, 213_568])
        #expect(entry.members.reduce(0) { $0 + $1.compressedSize } == entry.compressed.size)
        #expect(entry.uncompressed.size == 1_000_000)
        #expect(entry.uncompressed.sha256 == SHA256Stream.hex(of: input))
        #expect(try FileSystem.size(dir.file("d.gz")) == entry.compressed.size)
        var out: [UInt8] = []
        try DataFileReader(path: dir.file("d.gz"), entry: entry).read { out.append(contentsOf: $0) }
        #expect(out == input)
    }

    /// Members in flight hold input and output: one more than the compressors, capped by the
    /// memory budget, so a many-core machine stays bounded too.
    @Test func membersInFlightStayWithinTheBudgetOnManyCores() throws {
        let mib = 1024 * 1024
        #expect(DataFileWriter.defaultMembersInFlight(workers: 2, memberSize: 4 * mib) == 3)
        #expect(DataFileWriter.defaultMembersInFlight(workers: 16, memberSize: 4 * mib) == 6)
        #expect(DataFileWriter.defaultMembersInFlight(workers: 16, memberSize: mib) == 17)
        #expect(DataFileWriter.defaultMembersInFlight(workers: 64, memberSize: mib) == 24)
        for workers in [1, 2, 16, 64] {
            for memberSize in [4 * mib, mib, 4096] {
                let n = DataFileWriter.defaultMembersInFlight(workers: workers, memberSize: memberSize)
                #expect(n >= 2 && n * 2 * memberSize <= max(DataFileWriter.memberBudget, 4 * memberSize))
            }
        }
        // More compressors than members in flight, as the cap makes on many cores, still
        // writes a correct file.
        let dir = TempDirectory()
        let input = (0..<1_000_000).map { UInt8(truncatingIfNeeded: ($0 * 7) ^ ($0 >> 11)) }
        let writer = try DataFileWriter(path: dir.file("d.gz"), relativePath: "data/d.gz", role: "test", level: 6,
                                        memberSize: 64 * 1024, workers: 16, membersInFlight: 3)
        try input.withUnsafeBytes { try writer.write($0) }
        let entry = try writer.finish()
        #expect(entry.members.count == 16)
        var out: [UInt8] = []
        try DataFileReader(path: dir.file("d.gz"), entry: entry).read { out.append(contentsOf: $0) }
        #expect(out == input)
    }

    @Test func zstdDataFileRoundTripsAndDecompressesWithTheZstdTool() throws {
        let dir = TempDirectory()
        let input = (0..<3_000_000).map { UInt8(truncatingIfNeeded: ($0 * 7) ^ ($0 >> 11)) }
        let writer = try DataFileWriter(path: dir.file("d.zst"), relativePath: "data/d.zst", role: "test", codec: .zstd,
                                        level: 3, memberSize: 1 << 20)
        try input.withUnsafeBytes { try writer.write($0) }
        let entry = try writer.finish()
        #expect(entry.codec == "zstd")
        #expect(entry.members.count == 3)
        var out: [UInt8] = []
        try DataFileReader(path: dir.file("d.zst"), entry: entry).read { out.append(contentsOf: $0) }
        #expect(out == input)
        let byHand = try Run.program("/bin/sh", ["-c", "zstd -d -c '\(dir.file("d.zst"))' | sha256sum"])
        #expect(byHand.status == 0)
        #expect(byHand.stdout.hasPrefix(entry.uncompressed.sha256))
        // A flipped byte fails the frame checksum or the digest.
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir.file("d.zst"))))
        bytes[bytes.count / 2] ^= 4
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("d.zst")))
        #expect(throws: EHRError.self) { try DataFileReader(path: dir.file("d.zst"), entry: entry).read { _ in } }
    }

    @Test func emptyInputIsOneEmptyMember() throws {
        let dir = TempDirectory()
        let entry = try writeDataFile([], memberSize: 1024, in: dir)
        #expect(entry.members.count == 1)
        #expect(entry.uncompressed.size == 0)
        var count = 0
        try DataFileReader(path: dir.file("d.gz"), entry: entry).read { count += $0.count }
        #expect(count == 0)
    }

    @Test func readerRejectsAFlippedByteAndAWrongIndex() throws {
        let dir = TempDirectory()
        let input = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let entry = try writeDataFile(input, memberSize: 64 * 1024, in: dir)
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir.file("d.gz"))))
        bytes[bytes.count / 3] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("d.gz")))
        do {
            try DataFileReader(path: dir.file("d.gz"), entry: entry).read { _ in }
            Issue.record("a flipped byte went unnoticed")
        } catch let e as EHRError {
            #expect(e.kind == .verificationFailed)
            #expect(e.message.contains("data/d.gz"))
        }
        var lying = entry
        lying.uncompressed.sha256 = String(repeating: "0", count: 64)
        bytes[bytes.count / 3] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("d.gz")))
        #expect(throws: EHRError.self) { try DataFileReader(path: dir.file("d.gz"), entry: lying).read { _ in } }
        try DataFileReader(path: dir.file("d.gz"), entry: entry).read { _ in }
    }

    @Test func stagedSnapshotIsInvisibleUntilPublished() throws {
        let dir = TempDirectory()
        let (archive, _) = try Archive.create(at: dir.file("arch"))
        let staged = try archive.beginSnapshot()
        let writer = try staged.dataFile(named: "x", role: "test", compression: Compression(level: 1))
        try Array("content".utf8).withUnsafeBytes { try writer.write($0) }
        let file = try writer.finish()
        #expect(try archive.snapshotIDs().isEmpty)
        #expect(try archive.leftoverStaging().count == 1)
        let manifest = Manifest(snapshotID: staged.id, tool: .init(version: "test"), host: "h", startedAt: "s",
                                finishedAt: "f", sources: [.init(name: "x", kind: .sqlite, files: [file])])
        try staged.publish(manifest)
        #expect(try archive.snapshotIDs() == [staged.id])
        #expect(try archive.leftoverStaging().isEmpty)
        #expect(try archive.manifest(of: staged.id) == manifest)
        let digest = try String(contentsOfFile: archive.snapshotDirectory(staged.id) + "/manifest.sha256", encoding: .utf8)
        let manifestBytes = try Array(Data(contentsOf: URL(fileURLWithPath: archive.snapshotDirectory(staged.id) + "/manifest.json")))
        #expect(digest == "\(SHA256Stream.hex(of: manifestBytes))  manifest.json\n")
    }

    @Test func renameNoReplaceNeverReplaces() throws {
        let dir = TempDirectory()
        try dir.write("new", to: "a")
        try dir.write("old", to: "b")
        do {
            try FileSystem.renameNoReplace(dir.file("a"), dir.file("b"))
            Issue.record("replaced an existing file")
        } catch let e as EHRError {
            #expect(e.kind == .targetExists)
        }
        #expect(try String(contentsOfFile: dir.file("b"), encoding: .utf8) == "old")
        try FileSystem.renameNoReplace(dir.file("a"), dir.file("c"))
        #expect(try String(contentsOfFile: dir.file("c"), encoding: .utf8) == "new")
    }
}
