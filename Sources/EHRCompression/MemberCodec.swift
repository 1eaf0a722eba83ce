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
