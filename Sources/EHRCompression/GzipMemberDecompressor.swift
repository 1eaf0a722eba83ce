import CZlib

/// Inflates exactly one gzip member, checking its CRC-32 and length trailer (zlib does), and
/// hands the output to a sink in bounded chunks. Bytes after the member's end, or a member that
/// ends early, are errors: the manifest's member index says where each member ends.
///
/// Owns its `z_stream`; not Sendable (one per thread).
public final class GzipMemberDecompressor {
    private var stream = z_stream()
    private var buffer: [UInt8]

    public init(chunkSize: Int = 256 * 1024) throws {
        buffer = [UInt8](repeating: 0, count: chunkSize)
        let rc = ehr_inflate_init_gzip(&stream)
        guard rc == Z_OK else { throw GzipError("init", rc, stream) }
    }

    deinit { inflateEnd(&stream) }

    /// Returns the number of uncompressed bytes produced.
    @discardableResult
    public func decompressMember(_ member: UnsafeRawBufferPointer,
                                 sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let rcReset = inflateReset(&stream)
        guard rcReset == Z_OK else { throw GzipError("reset", rcReset, stream) }
        stream.next_in = UnsafeMutablePointer(mutating: member.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(member.count)
        var total = 0
        let chunk = buffer.count
        while true {
            let (rc, produced): (Int32, Int) = buffer.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(chunk)
                let rc = inflate(&stream, Z_NO_FLUSH)
                return (rc, chunk - Int(stream.avail_out))
            }
            if produced > 0 {
                total += produced
                try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0.prefix(produced))) }
            }
            switch rc {
            case Z_STREAM_END:
                guard stream.avail_in == 0 else { throw GzipError("inflate (bytes after member end)", Z_DATA_ERROR, stream) }
                return total
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0:
                throw GzipError("inflate (member truncated)", Z_DATA_ERROR, stream)
            default:
                throw GzipError("inflate", rc, stream)
            }
        }
    }
}
