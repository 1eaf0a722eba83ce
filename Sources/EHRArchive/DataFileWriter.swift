import EHRCompression
import EHRCore

/// Writes one archive data file: uncompressed bytes stream in, independent gzip members go out,
/// and both SHA-256 digests and the member index are computed in the same pass. Memory is one
/// member's input slice and its compressed output, whatever the file's size.
public final class DataFileWriter {
    public static let defaultMemberSize = 4 * 1024 * 1024

    private let file: OutputFile
    private let compressor: GzipMemberCompressor
    private let memberSize: Int
    private var pending: [UInt8] = []
    private var compressedBuffer: [UInt8] = []
    private var uncompressedHash = SHA256Stream()
    private var compressedHash = SHA256Stream()
    private var members: [Manifest.Member] = []
    private var uncompressedSize: Int64 = 0
    private let relativePath: String
    private let role: String

    /// `path` is created (it must not exist); `relativePath` is what the manifest records.
    public init(path: String, relativePath: String, role: String, level: Int,
                memberSize: Int = DataFileWriter.defaultMemberSize) throws {
        file = try OutputFile(creating: path)
        compressor = try GzipMemberCompressor(level: level)
        self.memberSize = memberSize
        self.relativePath = relativePath
        self.role = role
        pending.reserveCapacity(memberSize)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            let take = min(memberSize - pending.count, rest.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if pending.count == memberSize { try flushMember() }
        }
    }

    private func flushMember() throws {
        compressedBuffer.removeAll(keepingCapacity: true)
        try pending.withUnsafeBytes { input in
            uncompressedHash.update(input)
            try compressor.compressMember(input, appendingTo: &compressedBuffer)
        }
        compressedHash.update(compressedBuffer)
        try file.write(compressedBuffer)
        members.append(.init(compressedSize: Int64(compressedBuffer.count), uncompressedSize: Int64(pending.count)))
        uncompressedSize += Int64(pending.count)
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes the last member, fsyncs and closes. Returns the manifest entry.
    public func finish() throws -> Manifest.File {
        if !pending.isEmpty || members.isEmpty { try flushMember() }
        try file.sync()
        try file.close()
        return Manifest.File(path: relativePath, role: role,
                             compressed: .init(size: file.bytesWritten, sha256: compressedHash.hex()),
                             uncompressed: .init(size: uncompressedSize, sha256: uncompressedHash.hex()),
                             members: members)
    }
}
