/// The streamed comparison of a keys rule: both sides arrive sorted in one byte order
/// (PostgreSQL `COLLATE "C"`, SQLite BINARY), so one pass with one key of each side in memory
/// finds the distinct keys of `each` that `exists_in` lacks. Duplicates on either side are
/// skipped; NULL keys are counted apart and never compared.
public struct KeyMerge {
    /// Distinct keys of `each` missing from `exists_in`.
    public private(set) var missing: Int64 = 0
    /// NULL keys of `each`.
    public private(set) var nullKeys: Int64 = 0
    /// The first `keep` missing keys (for --show-keys).
    public private(set) var shown: [[UInt8]] = []
    public let keep: Int

    public init(keep: Int = 0) { self.keep = keep }

    /// Runs the merge. `each` and `existsIn` return the next key (nil: NULL) or end the stream
    /// (`.end`); both must be ascending by byte order, NULLs anywhere. Throws what they throw,
    /// and `unsorted` when a side is not in order (a query whose ORDER BY was lost).
    public mutating func run(each: () throws -> Next, existsIn: () throws -> Next) throws {
        var rightNulls: Int64 = 0
        var right = try Self.nextKey(existsIn, nulls: &rightNulls)
        var previousLeft: [UInt8]?
        var previousRight: [UInt8]? = right
        var nulls: Int64 = 0
        while true {
            guard let left = try Self.nextKey(each, nulls: &nulls) else { break }
            if let previousLeft {
                if left == previousLeft { continue }
                guard Self.less(previousLeft, left) else { throw KeyMergeError.unsorted(side: "each") }
            }
            previousLeft = left
            while let r = right, Self.less(r, left) {
                right = try Self.nextKey(existsIn, nulls: &rightNulls)
                if let next = right {
                    guard !Self.less(next, previousRight!) else { throw KeyMergeError.unsorted(side: "exists_in") }
                    previousRight = next
                }
            }
            if right != left {
                missing += 1
                if shown.count < keep { shown.append(left) }
            }
        }
        nullKeys = nulls
    }

    public enum Next {
        case key([UInt8]?)
        case end
    }

    private static func nextKey(_ source: () throws -> Next, nulls: inout Int64) throws -> [UInt8]? {
        while true {
            switch try source() {
            case .end: return nil
            case .key(nil): nulls += 1
            case .key(let key?): return key
            }
        }
    }

    /// Byte order (memcmp, shorter first on a common prefix): what `COLLATE "C"` and BINARY sort by.
    public static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }
}

public enum KeyMergeError: Error, Equatable {
    case unsorted(side: String)
}
