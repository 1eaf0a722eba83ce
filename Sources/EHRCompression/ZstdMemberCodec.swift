import CZstd

/// zstd frames as archive members: each slice becomes one frame with its content size and a
/// checksum in it; frames concatenate into a file `zstd -d` reads whole. Owns its contexts.
public final class ZstdMemberCodec: MemberCompressor, MemberDecompressor {
    private let cctx: OpaquePointer
    private let dctx: OpaquePointer

    public init(level: Int) throws {
        guard let c = ZSTD_createCCtx() else { throw ZstdError(operation: "create context", code: 0) }
        guard let d = ZSTD_createDCtx() else {
            ZSTD_freeCCtx(c)
            throw ZstdError(operation: "create context", code: 0)
        }
        cctx = c
        dctx = d
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, Int32(level)), "set level")
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "enable checksums")
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        ZSTD_freeDCtx(dctx)
    }

    private func check(_ rc: Int, _ operation: String) throws {
        if ZSTD_isError(rc) != 0 { throw ZstdError(operation: operation, code: rc) }
    }

    @discardableResult
    public func compressMember(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws -> Int {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress2(cctx, out.baseAddress! + start, bound, input.baseAddress, input.count)
        }
        if ZSTD_isError(written) != 0 {
            output.removeLast(bound)
            throw ZstdError(operation: "compress", code: written)
        }
        output.removeLast(bound - written)
        return written
    }

    @discardableResult
    public func decompressMember(_ member: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let size = ZSTD_getFrameContentSize(member.baseAddress, member.count)
        // Unknown (ZSTD_CONTENTSIZE_UNKNOWN) or error: our frames always carry their size.
        guard size < UInt64(1) << 32 else { throw ZstdError(operation: "read frame header", code: 0) }
        let frame = ZSTD_findFrameCompressedSize(member.baseAddress, member.count)
        guard ZSTD_isError(frame) == 0, frame == member.count else {
            throw ZstdError(operation: "find frame end (truncated or trailing bytes)", code: frame)
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let produced = out.withUnsafeMutableBytes { o in
            ZSTD_decompressDCtx(dctx, o.baseAddress, o.count, member.baseAddress, member.count)
        }
        try check(produced, "decompress")
        guard produced == Int(size) else { throw ZstdError(operation: "decompress (short frame)", code: 0) }
        try out.withUnsafeBytes { try sink($0) }
        return produced
    }
}

public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int
    public var description: String {
        let name = code != 0 && ZSTD_isError(code) != 0 ? String(cString: ZSTD_getErrorName(code)) : "invalid data"
        return "zstd \(operation) failed: \(name)"
    }
}
