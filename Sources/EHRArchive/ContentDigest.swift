import Crypto

/// An order-independent digest of a table's rows: each row's SHA-256 is added, as four 64-bit
/// lanes with wrap-around, into a running sum. Equal multisets of rows give equal digests in any
/// order (COPY has none), and a duplicated or missing row changes it, unlike XOR. The row count is
/// part of the text so an empty table is distinct from nothing.
public struct ContentDigest: Sendable {
    private var lanes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public private(set) var rows: Int64 = 0

    public init() {}

    public mutating func add(row: UnsafeRawBufferPointer) {
        add(rowHash: SHA256.hash(data: row))
    }

    /// Adds a row by its SHA-256 (RowHasher's, when binary columns are hashed by value).
    public mutating func add(rowHash digest: SHA256Digest) {
        digest.withUnsafeBytes { d in
            lanes.0 &+= d.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            lanes.1 &+= d.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            lanes.2 &+= d.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            lanes.3 &+= d.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        }
        rows += 1
    }

    /// Adds another digest's rows: digests of disjoint parts of a table sum to the table's.
    public mutating func merge(_ other: ContentDigest) {
        lanes.0 &+= other.lanes.0
        lanes.1 &+= other.lanes.1
        lanes.2 &+= other.lanes.2
        lanes.3 &+= other.lanes.3
        rows += other.rows
    }

    /// `"<rows>:<64 hex>"`.
    public var text: String {
        func hex(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return "\(rows):" + hex(lanes.0) + hex(lanes.1) + hex(lanes.2) + hex(lanes.3)
    }
}
