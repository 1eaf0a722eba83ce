import EHRCore
import Foundation

/// `results/check.json` and `results/drill.json`: the last `check` and `drill` results, for
/// `status` and metrics (docs/ARCHIVE-FORMAT.md, "results/"). Each is replaced atomically.
/// An addition older readers ignore, so the archive stays version 1.
public enum ResultRecord {
    public static let format = "ehrdata-result"
    public static let version = 1
    public static let directory = "results"
    public static let checkName = "check.json"
    public static let drillName = "drill.json"
    static let sizeLimit = 16 << 20

    struct Envelope<T: Encodable>: Encodable {
        var format = ResultRecord.format
        var version = ResultRecord.version
        var command: String
        var finishedAt: String
        var result: T
    }

    /// Wraps `result` with the format, version, command and time, and replaces the entry.
    public static func store<T: Encodable>(_ result: T, command: String, name: String, in archive: Archive) throws {
        try FileSystem.makeDirectory(archive.root + "/" + directory)
        let bytes = try JSONCoding.encode(Envelope(command: command, finishedAt: Timestamp.iso8601(Date()), result: result))
        try archive.writeFileAtomically(bytes, to: directory + "/" + name)
    }

    /// The stored record's JSON, or nil (none, a link, too large).
    public static func load(_ name: String, from archive: Archive) -> [UInt8]? {
        try? archive.readFile(directory + "/" + name, limit: sizeLimit)
    }
}
