/// The start of a SQLite database file, as the file format defines it
/// (https://www.sqlite.org/fileformat2.html#the_database_header): 100 bytes, the first 16 of
/// them "SQLite format 3" and a NUL.
///
/// Looked at before SQLite opens a source: SQLite takes an empty file, `/dev/null`, `/dev/zero`
/// or a `/proc` file for an empty database, so a backup of a wrong path would succeed with
/// nothing in it. Pure: the caller reads the bytes (at most `size`).
public enum SQLiteHeader {
    /// The header's length: the most a caller needs to read.
    public static let size = 100
    /// The first 16 bytes of every SQLite 3 database.
    public static let magic: [UInt8] = Array("SQLite format 3".utf8) + [0]

    /// Why bytes are not the start of a database.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        /// No bytes at all.
        case empty
        /// The first 16 bytes (or all there are) are not `magic`.
        case notSQLite
        /// The right first 16 bytes, but fewer than `size` in all.
        case truncated(bytes: Int)

        /// What the file is, to follow its path: "/x is empty (zero bytes), …".
        public var description: String {
            switch self {
            case .empty: "is empty (zero bytes), not a SQLite database"
            case .notSQLite: "is not a SQLite database (its first bytes are not the SQLite header)"
            case .truncated(let bytes): "is truncated: \(bytes) bytes, shorter than a SQLite header (\(SQLiteHeader.size) bytes)"
            }
        }
    }

    /// nil if `bytes`, the first bytes of a file (all of them if it is shorter than `size`),
    /// start a SQLite database.
    public static func problem(in bytes: some Collection<UInt8>) -> Problem? {
        if bytes.isEmpty { return .empty }
        guard bytes.count >= magic.count, bytes.starts(with: magic) else { return .notSQLite }
        return bytes.count < size ? .truncated(bytes: bytes.count) : nil
    }
}
