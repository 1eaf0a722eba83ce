import EHRCompression
import EHRCore

/// Reads one archive data file back, member by member as the manifest indexes them, checking
/// everything the manifest promises: the compressed digest and size, each member's inflated
/// size, the uncompressed digest and size. Memory is one member at a time.
public struct DataFileReader {
    public let path: String
    public let entry: Manifest.File

    public init(path: String, entry: Manifest.File) throws {
        guard entry.codec == "gzip" else {
            throw EHRError(.unsupportedFormat, "\(entry.path) uses codec '\(entry.codec)', which this ehrdata cannot read",
                           hint: "upgrade ehrdata")
        }
        guard entry.encryption == nil else {
            throw EHRError(.unsupportedFormat, "\(entry.path) is encrypted, which this ehrdata cannot read",
                           hint: "upgrade ehrdata")
        }
        self.path = path
        self.entry = entry
    }

    /// Streams the uncompressed bytes to `sink`, then checks both digests. Throws
    /// `verificationFailed` naming the file on any mismatch; the sink may have seen bytes by then,
    /// so callers write to a temp file they discard on error.
    public func read(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let input = try InputFile(path: path)
        let decompressor = try GzipMemberDecompressor()
        var compressedHash = SHA256Stream(), uncompressedHash = SHA256Stream()
        var compressedTotal: Int64 = 0, uncompressedTotal: Int64 = 0
        var member = [UInt8]()
        for (index, m) in entry.members.enumerated() {
            guard m.compressedSize >= 0, m.compressedSize <= 1 << 31 else { throw mismatch("member \(index) has an impossible size") }
            member = [UInt8](repeating: 0, count: Int(m.compressedSize))
            let got = try member.withUnsafeMutableBytes { try input.read(into: $0) }
            guard got == member.count else { throw mismatch("is shorter than its manifest entry") }
            compressedHash.update(member)
            compressedTotal += Int64(got)
            var produced = 0
            do {
                produced = try member.withUnsafeBytes { bytes in
                    try decompressor.decompressMember(bytes) { chunk in
                        uncompressedHash.update(chunk)
                        try sink(chunk)
                    }
                }
            } catch let error as GzipError {
                throw mismatch("member \(index) does not inflate (\(error))")
            }
            guard Int64(produced) == m.uncompressedSize else { throw mismatch("member \(index) inflates to the wrong size") }
            uncompressedTotal += Int64(produced)
        }
        var extra = [UInt8](repeating: 0, count: 1)
        guard try extra.withUnsafeMutableBytes({ try input.read(into: $0) }) == 0 else {
            throw mismatch("is longer than its manifest entry")
        }
        guard compressedTotal == entry.compressed.size, compressedHash.hex() == entry.compressed.sha256 else {
            throw mismatch("does not match its compressed SHA-256")
        }
        guard uncompressedTotal == entry.uncompressed.size, uncompressedHash.hex() == entry.uncompressed.sha256 else {
            throw mismatch("does not match its uncompressed SHA-256")
        }
    }

    private func mismatch(_ what: String) -> EHRError {
        EHRError(.verificationFailed, "\(entry.path) \(what)",
                 hint: "this snapshot's copy is damaged; use another snapshot")
    }
}
