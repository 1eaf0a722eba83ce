import EHRCompression
import EHRCore

/// Writes one archive data file: uncompressed bytes stream in, independent members (gzip, or
/// zstd frames) go out.
/// Members are compressed on every core at once and written in order; both SHA-256 digests and
/// the member index are computed in the same pass. Memory is bounded by the members in flight
/// (a few per core), whatever the file's size.
public final class DataFileWriter {
    public static let defaultMemberSize = 4 * 1024 * 1024

    private struct Compressed {
        var input: [UInt8]
        var output: [UInt8]
    }

    private let file: OutputFile
    private let pool: OrderedWorkPool<[UInt8], Compressed, MemberCompressor>
    private let codec: Codec
    private let memberSize: Int
    private var pending: [UInt8] = []
    private var uncompressedHash = SHA256Stream()
    private var compressedHash = SHA256Stream()
    private var members: [Manifest.Member] = []
    private var uncompressedSize: Int64 = 0
    private var submitted = 0
    private let relativePath: String
    private let role: String

    /// `path` is created (it must not exist); `relativePath` is what the manifest records.
    public init(path: String, relativePath: String, role: String, codec: Codec = .gzip, level: Int,
                content: MemberContent = .general, memberSize: Int = DataFileWriter.defaultMemberSize,
                workers: Int = OrderedWorkPool<Int, Int, Int>.defaultWorkers, membersInFlight: Int? = nil) throws {
        file = try OutputFile(creating: path)
        let workers = max(1, workers)
        pool = OrderedWorkPool(workers: workers, maxInFlight: membersInFlight ?? Self.defaultMembersInFlight(workers: workers, memberSize: memberSize),
                               makeState: { try codec.makeCompressor(level: level, content: content) },
                               transform: { compressor, input in
                                   var output: [UInt8] = []
                                   try input.withUnsafeBytes { _ = try compressor.compressMember($0, appendingTo: &output) }
                                   return Compressed(input: input, output: output)
                               })
        self.memberSize = memberSize
        self.codec = codec
        self.relativePath = relativePath
        self.role = role
        pending.reserveCapacity(memberSize)
    }

    deinit { pool.shutdown() }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        ProgressMeter.shared.add(bytes.count)
        var rest = bytes
        while !rest.isEmpty {
            let take = min(memberSize - pending.count, rest.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if pending.count == memberSize { try submitPending() }
        }
    }

    private func submitPending() throws {
        let slice = pending
        pending = []
        pending.reserveCapacity(memberSize)
        submitted += 1
        try emit(pool.submit(slice))
    }

    /// Writes finished members in order; the uncompressed digest is taken here too, so it sees
    /// the slices in stream order.
    private func emit(_ ready: [Compressed]) throws {
        for member in ready {
            uncompressedHash.update(member.input)
            compressedHash.update(member.output)
            try file.write(member.output)
            members.append(.init(compressedSize: Int64(member.output.count), uncompressedSize: Int64(member.input.count)))
            uncompressedSize += Int64(member.input.count)
        }
    }

    /// What members in flight may hold at once: each is its input and its output, so about
    /// twice the member size.
    public static let memberBudget = 48 * 1024 * 1024

    /// One more member than compressors, so none waits for input; but never more than the
    /// budget, so memory stays bounded on a machine with many cores too (6 members of 4 MiB:
    /// beyond 5 cores a data file compresses on 5 or 6 of them).
    public static func defaultMembersInFlight(workers: Int, memberSize: Int) -> Int {
        min(workers + 1, max(2, memberBudget / (2 * max(1, memberSize))))
    }

    /// Abandons the file: stops the workers, closes and deletes what was written, so the same
    /// name can be written again from the start.
    public func discard() throws {
        pool.shutdown()
        try file.close()
        try FileSystem.removeTree(file.path)
    }

    /// Flushes the last member, fsyncs and closes. Returns the manifest entry.
    public func finish() throws -> Manifest.File {
        if !pending.isEmpty || submitted == 0 { try submitPending() }
        try emit(pool.drain())
        pool.shutdown()
        try file.sync()
        try file.close()
        return Manifest.File(path: relativePath, role: role, codec: codec.rawValue,
                             compressed: .init(size: file.bytesWritten, sha256: compressedHash.hex()),
                             uncompressed: .init(size: uncompressedSize, sha256: uncompressedHash.hex()),
                             members: members)
    }
}
