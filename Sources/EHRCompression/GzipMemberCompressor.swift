import CZlib

/// Turns a slice of bytes into one complete, independent gzip member (RFC 1952) with MTIME 0 and
/// no file name, so equal input gives equal output. Members concatenate into a file `gunzip`
/// reads whole, and can be produced in parallel by one compressor per thread.
///
/// Owns its `z_stream`; not Sendable (one per thread).
public final class GzipMemberCompressor {
    private var stream = z_stream()
    public let level: Int32

    /// `memoryLevel` is zlib's memLevel (1...9): the hash table and block buffer size. It does not
    /// change the format, only speed and (slightly) size.
    public init(level: Int = 6, memoryLevel: Int = 8) throws {
        self.level = Int32(level)
        let rc = ehr_deflate_init_gzip(&stream, self.level, Int32(memoryLevel))
        guard rc == Z_OK else { throw GzipError("init", rc, stream) }
    }

    deinit { deflateEnd(&stream) }

    /// Compresses `input` as one member and appends it to `output`. Returns the member's size.
    @discardableResult
    public func compressMember(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws -> Int {
        let rcReset = deflateReset(&stream)
        guard rcReset == Z_OK else { throw GzipError("reset", rcReset, stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        let start = output.count
        output.reserveCapacity(start + bound)
        output.append(contentsOf: repeatElement(0, count: bound))
        let rc: Int32 = output.withUnsafeMutableBufferPointer { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress!.advanced(by: start)
            stream.avail_out = uInt(bound)
            // deflateBound guarantees one Z_FINISH call suffices.
            return deflate(&stream, Z_FINISH)
        }
        guard rc == Z_STREAM_END else {
            output.removeLast(bound)
            throw GzipError("deflate", rc, stream)
        }
        let written = bound - Int(stream.avail_out)
        output.removeLast(bound - written)
        return written
    }

    /// Convenience for tests and small inputs.
    public func compressMember(_ input: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try input.withUnsafeBytes { _ = try compressMember($0, appendingTo: &out) }
        return out
    }
}
