import EHRCore

/// A codec that turns slices of a stream into independent members that concatenate into one
/// standard file (`gunzip` / `zstd -d` read it whole), so members can be made and read in
/// parallel. One instance per thread.
public protocol MemberCodec {
    /// Compresses `input` as one member, appended to `output`; returns the member's size.
    @discardableResult
    func compressMember(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws -> Int
    /// Inflates exactly one member, checking its own checksum; returns the bytes produced.
    @discardableResult
    func decompressMember(_ member: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int
}

extension Codec {
    public func makeCompressor(level: Int) throws -> MemberCodec {
        switch self {
        case .gzip: try GzipMemberCompressor(level: level)
        case .zstd: try ZstdMemberCodec(level: level)
        }
    }

    public func makeDecompressor() throws -> MemberCodec {
        switch self {
        case .gzip: try GzipMemberDecompressor()
        case .zstd: try ZstdMemberCodec(level: 0)
        }
    }
}

extension GzipMemberCompressor: MemberCodec {
    public func decompressMember(_ member: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try GzipMemberDecompressor().decompressMember(member, sink: sink)
    }
}

extension GzipMemberDecompressor: MemberCodec {
    public func compressMember(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws -> Int {
        try GzipMemberCompressor().compressMember(input, appendingTo: &output)
    }
}
