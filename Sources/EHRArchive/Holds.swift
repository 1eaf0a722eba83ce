#if canImport(Glibc)
import Glibc
#endif
import EHRCore
import Foundation

/// `holds/<snapshot id>.json`: a legal hold pins a snapshot against pruning until it is released
/// (docs/ARCHIVE-FORMAT.md, "Holds"). The field names are the format.
public struct HoldRecord: Codable, Sendable, Equatable {
    public static let format = "ehrdata-hold"
    public static let newestVersion = 1
    public static let directory = "holds"
    static let sizeLimit = 64 << 10
    public static let reasonLimit = 500

    public var format = HoldRecord.format
    public var version = HoldRecord.newestVersion
    public var snapshot: String
    public var reason: String
    public var heldBy: String
    public var heldAt: String

    public init(snapshot: SnapshotID, reason: String, heldBy: String, heldAt: Date) {
        self.snapshot = snapshot.rawValue
        self.reason = reason
        self.heldBy = heldBy
        self.heldAt = Timestamp.iso8601(heldAt)
    }

    /// `login@host` of whoever runs this process (the uid when it has no name).
    public static var currentUser: String {
        var name = "uid \(getuid())"
        if let pw = getpwuid(getuid()), let login = pw.pointee.pw_name { name = String(cString: login) }
        return "\(name)@\(ProcessInfo.processInfo.hostName)"
    }
}

/// A hold as a reader finds it: the record, or only that one exists and cannot be read.
public struct Hold: Sendable, Equatable, Codable {
    public var snapshot: String
    public var reason: String
    public var heldBy: String?
    public var heldAt: String?
    public var readable: Bool

    public init(snapshot: String, reason: String, heldBy: String?, heldAt: String?, readable: Bool) {
        self.snapshot = snapshot
        self.reason = reason
        self.heldBy = heldBy
        self.heldAt = heldAt
        self.readable = readable
    }

    /// One line for `list`, `status` and prune's reasons.
    public var summary: String {
        readable ? "\(reason) (by \(heldBy ?? "?") at \(heldAt ?? "?"))" : reason
    }
}

extension Archive {
    /// Every hold, by snapshot id. An unreadable record still holds its snapshot. A `holds`
    /// that cannot be read (a link, a file) gives none here; prune uses `checkedHolds()`.
    public func holds() -> [String: Hold] { (try? checkedHolds()) ?? [:] }

    /// As `holds()`, but a `holds` that exists and cannot be listed is an error (damage, 65):
    /// prune must not take "cannot see the holds" for "nothing is held".
    public func checkedHolds() throws -> [String: Hold] {
        let entries: [(name: String, type: EntryType)]
        do { entries = try self.entries(HoldRecord.directory) } catch let error as EHRError where error.kind == .notFound { return [:] }
        var result: [String: Hold] = [:]
        for entry in entries where entry.name.hasSuffix(".json") {
            let idText = String(entry.name.dropLast(5))
            guard SnapshotID(idText) != nil else { continue }
            let unreadable = Hold(snapshot: idText, reason: "hold record unreadable", heldBy: nil, heldAt: nil, readable: false)
            guard entry.type == .file,
                  let bytes = try? readFile(HoldRecord.directory + "/" + entry.name, limit: HoldRecord.sizeLimit),
                  let header = try? JSONDecoder().decode(FormatHeader.self, from: Data(bytes)),
                  header.format == HoldRecord.format, header.version <= HoldRecord.newestVersion,
                  let record = try? JSONDecoder().decode(HoldRecord.self, from: Data(bytes)), record.snapshot == idText else {
                result[idText] = unreadable
                continue
            }
            result[idText] = Hold(snapshot: idText, reason: record.reason, heldBy: record.heldBy, heldAt: record.heldAt, readable: true)
        }
        return result
    }

    /// Writes the hold atomically (replacing an earlier hold of the same snapshot).
    public func writeHold(_ record: HoldRecord) throws {
        try FileSystem.makeDirectory(root + "/" + HoldRecord.directory)
        try writeFileAtomically(try JSONCoding.encode(record), to: HoldRecord.directory + "/" + record.snapshot + ".json")
    }

    /// Removes the hold; false if there was none.
    public func removeHold(_ id: SnapshotID) throws -> Bool {
        let dir: Descriptor
        do { dir = try openDirectory(HoldRecord.directory) } catch let error as EHRError where error.kind == .notFound { return false }
        let name = id.rawValue + ".json"
        if unlinkat(dir.fd, name, 0) != 0 {
            if errno == ENOENT { return false }
            throw FileSystem.error("remove", root + "/" + HoldRecord.directory + "/" + name)
        }
        guard fsync(dir.fd) == 0 else { throw FileSystem.error("fsync directory", root + "/" + HoldRecord.directory) }
        return true
    }
}
