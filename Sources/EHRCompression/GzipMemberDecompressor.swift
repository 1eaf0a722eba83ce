import CDeflate
import CZlib

/// Inflates exactly one gzip member, checking its CRC-32 and length trailer, and hands the output
/// to a sink in bounded chunks (zlib), or, when the member's size is known, writes it in one call
/// into the caller's buffer (libdeflate, about 1.6 times as fast: reading the archive back is
/// most of a PostgreSQL restore's client CPU). Bytes after the member's end, or a member that
/// ends early, are errors: the manifest's member index says where each member ends.
///
/// Owns its `z_stream` and libdeflate decompressor; not Sendable (one per thread).
public final class GzipMemberDecompressor {
    private var stream = z_stream()
    private var buffer: [UInt8]
    private let whole: OpaquePointer

    public init(chunkSize: Int = 256 * 1024) throws {
        buffer = [UInt8](repeating: 0, count: chunkSize)
        let rc = ehr_inflate_init_gzip(&stream)
        guard rc == Z_OK else { throw GzipError("init", rc, stream) }
        guard let whole = libdeflate_alloc_decompressor() else {
            inflateEnd(&stream)
            throw GzipError(operation: "init", code: Z_MEM_ERROR, message: "libdeflate could not allocate its decompressor")
        }
        self.whole = whole
    }

    deinit {
        inflateEnd(&stream)
        libdeflate_free_decompressor(whole)
    }

    public func decompressMember(_ member: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        var consumed = 0, produced = 0
        let rc = libdeflate_gzip_decompress_ex(whole, member.baseAddress, member.count, output.baseAddress, output.count,
                                               &consumed, &produced)
        switch rc {
        case LIBDEFLATE_SUCCESS:
            guard consumed == member.count else { throw GzipError(operation: "inflate (bytes after member end)", code: Z_DATA_ERROR, message: "libdeflate") }
            return produced
        case LIBDEFLATE_INSUFFICIENT_SPACE:
            throw MemberOverflow()
        default:
            // A bad header, bad data, a wrong CRC-32 or length, or a member cut short.
            throw GzipError(operation: "inflate", code: Z_DATA_ERROR, message: "libdeflate: invalid data, CRC-32 or length")
        }
    }

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
