import EHRCore
import Foundation

/// `verify.json` beside a snapshot: the verdict of its verifies, and the latest result at each
/// depth. Replaced atomically; the only file that changes after a snapshot is published.
///
/// The top-level fields are the verdict (docs/ARCHIVE-FORMAT.md, "verify.json"): a shallower
/// pass never hides a deeper failure. Older readers see only them, and so the same verdict.
public struct VerifyRecord: Codable, Sendable, Equatable {
    public var verifiedAt: String
    public var depth: String
    public var ok: Bool
    public var problems: [String]
    /// "checksums" and "deep" → the latest result at that depth.
    public var byDepth: [String: Result]?

    public struct Result: Codable, Sendable, Equatable {
        public var verifiedAt: String
        public var ok: Bool
        public var problems: [String]
        public init(verifiedAt: String, ok: Bool, problems: [String]) {
            self.verifiedAt = verifiedAt
            self.ok = ok
            self.problems = problems
        }
    }

    public static let depths = ["checksums", "deep"]

    public init(verifiedAt: String, depth: String, ok: Bool, problems: [String]) {
        self.verifiedAt = verifiedAt
        self.depth = depth
        self.ok = ok
        self.problems = problems
        byDepth = [depth: Result(verifiedAt: verifiedAt, ok: ok, problems: problems)]
    }

    /// This record with a new result at `depth` merged in, and the verdict derived again. A deep
    /// pass also counts as a checksums pass (deep reads and checks everything checksums does).
    public func merging(_ result: Result, depth: String) -> VerifyRecord {
        Self.merged(byDepth ?? [self.depth: Result(verifiedAt: verifiedAt, ok: ok, problems: problems)], result, depth: depth)
    }

    static func merged(_ existing: [String: Result], _ result: Result, depth: String) -> VerifyRecord {
        var results = existing
        results[depth] = result
        if depth == "deep", result.ok { results["checksums"] = result }
        return VerifyRecord(results: results)
    }

    /// The verdict of `results`: a failed deep result stands until a later deep pass; otherwise
    /// a failed checksums result; otherwise ok at the deepest depth that passed.
    init(results: [String: Result]) {
        let chosen: (String, Result)
        if let deep = results["deep"], !deep.ok {
            chosen = ("deep", deep)
        } else if let checksums = results["checksums"], !checksums.ok {
            chosen = ("checksums", checksums)
        } else if let deep = results["deep"] {
            chosen = ("deep", deep)
        } else {
            chosen = ("checksums", results["checksums"] ?? Result(verifiedAt: "", ok: false, problems: ["no result"]))
        }
        verifiedAt = chosen.1.verifiedAt
        depth = chosen.0
        ok = chosen.1.ok
        problems = chosen.1.problems
        byDepth = results
    }

    /// `ok (deep)`, `FAILED (checksums)`: the verdict with its depth, as `list` and `show` print it.
    public var verdict: String { "\(ok ? "ok" : "FAILED") (\(depth))" }

    /// The record, or nil if there is none or it cannot be read (a link, too large, not JSON).
    public static func load(from archive: Archive, id: SnapshotID) -> VerifyRecord? {
        guard let data = try? archive.readFile(Archive.snapshotEntry(id, Archive.verifyRecordName), limit: 1 << 20) else {
            return nil
        }
        return try? JSONDecoder().decode(VerifyRecord.self, from: Data(data))
    }

    /// Merges `result` into the snapshot's record and replaces it atomically inside the
    /// snapshot's own directory, never through a link. Returns the new record.
    @discardableResult
    public static func record(_ result: Result, depth: String, to archive: Archive, id: SnapshotID) throws -> VerifyRecord {
        let merged = load(from: archive, id: id)?.merging(result, depth: depth) ?? merged([:], result, depth: depth)
        try archive.writeFileAtomically(try JSONCoding.encode(merged), to: Archive.snapshotEntry(id, Archive.verifyRecordName))
        return merged
    }
}
