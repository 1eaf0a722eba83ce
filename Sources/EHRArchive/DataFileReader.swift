import EHRCompression
import EHRCore

/// Reads one archive data file back, member by member as the manifest indexes them, inflating
/// members on every core and handing the bytes on in order. Checks everything the manifest
/// promises: the compressed digest and size, each member's inflated size, the uncompressed
/// digest and size. Memory is bounded by the members in flight.
public struct DataFileReader {
    /// No member may claim more than this; a damaged manifest cannot make us allocate wildly.
    static let maxMemberSize: Int64 = 256 * 1024 * 1024

    public let path: String
    /// Opens the file: inside an archive without following links, or a plain path.
    private let open: () throws -> InputFile
    public let entry: Manifest.File
    public let codec: Codec
    public var workers: Int
    /// Whether to hash the inflated stream too. A PostgreSQL restore turns this off: the
    /// compressed digest already pins the bytes, and the content digests it reads back from the
    /// server check every row more strongly than a hash of the stream it sent.
    public var checksUncompressedDigest = true
    /// Members read ahead (compressed and inflated, about 8 MiB each at most); lower it where
    /// several readers run at once.
    public var membersInFlight: Int

    /// The data file `entry` of snapshot `snapshot`, opened relative to the archive (no link is
    /// followed; a FIFO or device is refused). Its path must be a safe one under `data/`.
    public init(archive: Archive, snapshot: SnapshotID, entry: Manifest.File,
                workers: Int = OrderedWorkPool<Int, Int, Int>.defaultWorkers) throws {
        guard SnapshotPaths.isSafe(entry.path) else {
            throw EHRError(.verificationFailed, "snapshot \(snapshot): unsafe path \(entry.path) in the manifest",
                           hint: "this snapshot is damaged; use another snapshot")
        }
        let relative = Archive.snapshotEntry(snapshot, entry.path)
        try self.init(path: archive.root + "/" + relative, entry: entry, workers: workers) { try archive.openFile(relative) }
    }

    public init(path: String, entry: Manifest.File, workers: Int = OrderedWorkPool<Int, Int, Int>.defaultWorkers) throws {
        try self.init(path: path, entry: entry, workers: workers) { try InputFile(path: path) }
    }

    private init(path: String, entry: Manifest.File, workers: Int, open: @escaping () throws -> InputFile) throws {
        guard let codec = Codec(rawValue: entry.codec) else {
            throw EHRError(.unsupportedFormat, "\(entry.path) uses codec '\(entry.codec)', which this ehrdata cannot read",
                           hint: "upgrade ehrdata")
        }
        guard entry.encryption == nil else {
            throw EHRError(.unsupportedFormat, "\(entry.path) is encrypted, which this ehrdata cannot read",
                           hint: "upgrade ehrdata")
        }
        self.path = path
        self.open = open
        self.entry = entry
        self.codec = codec
        self.workers = max(1, workers)
        membersInFlight = min(2 * self.workers, 6)
    }

    private struct Job {
        var index: Int
        var compressed: [UInt8]
        var expected: Int64
    }

    /// Streams the uncompressed bytes to `sink`, then checks both digests. Throws
    /// `verificationFailed` naming the file on any mismatch; the sink may have seen bytes by then,
    /// so callers write to a temp file they discard on error.
    public func read(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let input = try open()
        let file = entry.path
        let codec = self.codec
        let pool = OrderedWorkPool<Job, [UInt8], MemberDecompressor>(
            workers: workers, maxInFlight: membersInFlight,
            makeState: { try codec.makeDecompressor() },
            transform: { decompressor, job in
                let out: [UInt8]
                do {
                    // The recorded size is the room given: a member that inflates to more fails.
                    out = try [UInt8](unsafeUninitializedCapacity: Int(job.expected)) { room, count in
                        count = 0
                        count = try job.compressed.withUnsafeBytes { try decompressor.decompressMember($0, into: UnsafeMutableRawBufferPointer(room)) }
                    }
                } catch is MemberOverflow {
                    throw DataFileReader.mismatch(file, "member \(job.index) inflates to more than its size")
                } catch {
                    throw DataFileReader.mismatch(file, "member \(job.index) does not inflate (\(error))")
                }
                guard out.count == job.expected else {
                    throw DataFileReader.mismatch(file, "member \(job.index) inflates to the wrong size")
                }
                return out
            })
        defer { pool.shutdown() }
        var compressedHash = SHA256Stream(), uncompressedHash = SHA256Stream()
        var compressedTotal: Int64 = 0, uncompressedTotal: Int64 = 0
        func consume(_ outputs: [[UInt8]]) throws {
            for out in outputs {
                if checksUncompressedDigest { uncompressedHash.update(out) }
                uncompressedTotal += Int64(out.count)
                ProgressMeter.shared.add(out.count)
                try out.withUnsafeBytes { try sink($0) }
            }
        }
        for (index, m) in entry.members.enumerated() {
            guard m.compressedSize >= 0, m.compressedSize <= Self.maxMemberSize,
                  m.uncompressedSize >= 0, m.uncompressedSize <= Self.maxMemberSize else {
                throw Self.mismatch(file, "member \(index) has an impossible size")
            }
            var member = [UInt8](repeating: 0, count: Int(m.compressedSize))
            let got = try member.withUnsafeMutableBytes { try input.read(into: $0) }
            guard got == member.count else { throw Self.mismatch(file, "is shorter than its manifest entry") }
            compressedHash.update(member)
            compressedTotal += Int64(got)
            try consume(pool.submit(Job(index: index, compressed: member, expected: m.uncompressedSize)))
        }
        try consume(pool.drain())
        var extra = [UInt8](repeating: 0, count: 1)
        guard try extra.withUnsafeMutableBytes({ try input.read(into: $0) }) == 0 else {
            throw Self.mismatch(file, "is longer than its manifest entry")
        }
        guard compressedTotal == entry.compressed.size, compressedHash.hex() == entry.compressed.sha256 else {
            throw Self.mismatch(file, "does not match its compressed SHA-256")
        }
        guard uncompressedTotal == entry.uncompressed.size,
              !checksUncompressedDigest || uncompressedHash.hex() == entry.uncompressed.sha256 else {
            throw Self.mismatch(file, "does not match its uncompressed SHA-256")
        }
    }

    static func mismatch(_ file: String, _ what: String) -> EHRError {
        EHRError(.verificationFailed, "\(file) \(what)", hint: "this snapshot's copy is damaged; use another snapshot")
    }
}
