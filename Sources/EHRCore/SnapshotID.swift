import Foundation

/// A snapshot's id: `YYYYMMDDTHHMMSS.mmmZ-xxxx`, the UTC start time to the millisecond and four
/// random hex digits. Lexical order is time order; the suffix keeps two backups started in the
/// same millisecond apart.
public struct SnapshotID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String

    public init?(_ rawValue: String) {
        guard SnapshotID.isWellFormed(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// A new id for a backup starting at `date`.
    public static func make(at date: Date, suffix: UInt16 = .random(in: 0 ... .max)) -> SnapshotID {
        let stamp = Timestamp.compactUTC(date)
        let hex = String(suffix, radix: 16)
        let padded = String(repeating: "0", count: 4 - hex.count) + hex
        return SnapshotID(unchecked: "\(stamp)-\(padded)")
    }

    private init(unchecked: String) { rawValue = unchecked }

    /// The start time encoded in the id.
    public var date: Date? { Timestamp.parseCompactUTC(String(rawValue.prefix(19))) }

    public var description: String { rawValue }
    public static func < (a: SnapshotID, b: SnapshotID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let id = SnapshotID(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a snapshot id"))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    // "20261129T093647.123Z-3fa9": 8 digits, T, 6 digits, '.', 3 digits, Z, '-', 4 hex.
    static func isWellFormed(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 25 else { return false }
        func digits(_ r: Range<Int>) -> Bool { r.allSatisfy { (48...57).contains(u[$0]) } }
        func hex(_ r: Range<Int>) -> Bool {
            r.allSatisfy { (48...57).contains(u[$0]) || (97...102).contains(u[$0]) }
        }
        guard digits(0..<8) && u[8] == UInt8(ascii: "T") && digits(9..<15)
            && u[15] == UInt8(ascii: ".") && digits(16..<19) && u[19] == UInt8(ascii: "Z")
            && u[20] == UInt8(ascii: "-") && hex(21..<25) else { return false }
        // A time that cannot exist (month 13, 25 o'clock) is not an id: the calendar would roll
        // it over to another date, so it must print back as itself.
        guard let date = Timestamp.parseCompactUTC(String(s.prefix(20))) else { return false }
        return Timestamp.compactUTC(date) == String(s.prefix(20))
    }
}

/// How a user names a snapshot on the command line: a full id, a unique prefix, or `latest`.
public enum SnapshotSelector: Sendable, Equatable {
    case latest
    case prefix(String)

    public init(_ text: String) {
        self = text == "latest" ? .latest : .prefix(text)
    }

    /// Picks the one snapshot this selector names among `ids`.
    public func resolve(in ids: [SnapshotID]) throws -> SnapshotID {
        switch self {
        case .latest:
            guard let newest = ids.max() else {
                throw EHRError(.notFound, "the archive holds no snapshot yet",
                               hint: "run 'ehrdata backup' first")
            }
            return newest
        case .prefix(let text):
            let matches = ids.filter { $0.rawValue.hasPrefix(text) }
            if matches.count == 1 { return matches[0] }
            if matches.isEmpty || text.isEmpty {
                throw EHRError(.notFound, "no snapshot '\(text)' in the archive",
                               hint: "run 'ehrdata list' to see snapshot ids, or use 'latest'")
            }
            throw EHRError(.usage, "'\(text)' matches \(matches.count) snapshots",
                           hint: "give more characters of the id; 'ehrdata list' shows them")
        }
    }
}
