/// The bounds docs/ARCHIVE-FORMAT.md sets on every number a manifest carries. A manifest is
/// untrusted input: its numbers are checked before any arithmetic, so a damaged or hostile one
/// is reported as damage instead of trapping on overflow (which would break `list` for the
/// whole archive).
extension Manifest {
    /// 2^50 bytes (1 PiB): no file, and no total, may claim more.
    public static let maxSize: Int64 = 1 << 50
    /// One member's inflated or compressed size.
    public static let maxMemberSize: Int64 = 256 << 20
    /// Row, page and sequence counts.
    public static let maxCount: Int64 = 1 << 53

    /// What is out of bounds, or nil when every number is within them.
    public func boundsProblem() -> String? {
        var compressedTotal: Int64 = 0, uncompressedTotal: Int64 = 0
        for source in sources {
            for file in source.files {
                for digest in [file.compressed, file.uncompressed] where !(0...Self.maxSize).contains(digest.size) {
                    return "an impossible size for \(file.path)"
                }
                for member in file.members where !(0...Self.maxMemberSize).contains(member.compressedSize)
                    || !(0...Self.maxMemberSize).contains(member.uncompressedSize) {
                    return "an impossible member size in \(file.path)"
                }
                compressedTotal += file.compressed.size
                uncompressedTotal += file.uncompressed.size
                guard compressedTotal <= Self.maxSize, uncompressedTotal <= Self.maxSize else {
                    return "sizes that add up to more than \(Self.maxSize) bytes"
                }
            }
            if let sqlite = source.sqlite {
                guard (0...65536).contains(sqlite.pageSize), (0...Self.maxCount).contains(Int64(sqlite.pageCount)),
                      sqlite.tables.allSatisfy({ (0...Self.maxCount).contains($0.rows) }) else {
                    return "an impossible page or row count for source '\(source.name)'"
                }
            }
            if let postgres = source.postgres, !postgres.tables.allSatisfy({ (0...Self.maxCount).contains($0.rows) }) {
                return "an impossible row count for source '\(source.name)'"
            }
            if let roles = source.postgres?.roles, let problem = Self.rolesProblem(roles) {
                return "\(problem) for source '\(source.name)'"
            }
        }
        return nil
    }
}

/// Sums of sizes that saturate instead of trapping, for totals of numbers read from disk.
extension Sequence where Element == Int64 {
    public func saturatingSum() -> Int64 {
        reduce(0) { total, next in
            let (sum, overflow) = total.addingReportingOverflow(next)
            return overflow ? (next < 0 ? .min : .max) : sum
        }
    }
}
