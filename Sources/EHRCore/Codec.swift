/// The codecs the archive format knows, by their manifest name. gzip is the default (an
/// operator can gunzip by hand); zstd is optional, several times faster at a better ratio.
public enum Codec: String, Sendable, CaseIterable, Codable {
    case gzip
    case zstd

    public var defaultLevel: Int { self == .gzip ? 6 : 3 }
    public var levels: ClosedRange<Int> { self == .gzip ? 1...9 : 1...19 }
    public var fileSuffix: String { self == .gzip ? ".gz" : ".zst" }
}
