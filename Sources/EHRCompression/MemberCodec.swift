import EHRCore

/// Codecs that turn slices of a stream into independent members which concatenate into one
/// standard file (`gunzip` / `zstd -d` read it whole), so members can be made and read in
/// parallel. One instance per thread.
public protocol MemberCompressor {
    /// Compresses `input` as one member, appended to `output`; returns the member's size.
    @discardableResult
    func compressMember(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws -> Int
}

public protocol MemberDecompressor {
    /// Inflates exactly one member, checking its own checksum; returns the bytes produced.
    @discardableResult
    func decompressMember(_ member: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int

    /// The same into `output`, for a member whose inflated size is known: returns the bytes
    /// produced (fewer than `output.count` if it is shorter); throws `MemberOverflow` if it is
    /// longer.
    func decompressMember(_ member: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A member inflated to more bytes than the room it was given (its recorded size).
public struct MemberOverflow: Error, Sendable {}

extension MemberDecompressor {
    public func decompressMember(_ member: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        return try decompressMember(member) { chunk in
            guard chunk.count <= output.count - filled else { throw MemberOverflow() }
            UnsafeMutableRawBufferPointer(rebasing: output[filled...]).copyMemory(from: chunk)
            filled += chunk.count
        }
    }
}

/// What a data file holds, so a codec can pick settings that suit it. Never changes the format.
public enum MemberContent: Sendable {
    /// Text and anything else: zlib's defaults.
    case general
    /// Database pages (SQLite): zlib memLevel 9, about 7% faster at level 6 and no larger on pages,
    /// but 55% slower on PostgreSQL COPY text with hex bytea, hence not the default.
    case databasePages
}

extension Codec {
    public func makeCompressor(level: Int, content: MemberContent = .general) throws -> MemberCompressor {
        switch self {
        case .gzip: try GzipMemberCompressor(level: level, memoryLevel: content == .databasePages ? 9 : 8)
        case .zstd: try ZstdMemberCodec(level: level)
        }
    }

    public func makeDecompressor() throws -> MemberDecompressor {
        switch self {
        case .gzip: try GzipMemberDecompressor()
        case .zstd: try ZstdMemberCodec(level: 0)
        }
    }
}

extension GzipMemberCompressor: MemberCompressor {}
extension GzipMemberDecompressor: MemberDecompressor {}
