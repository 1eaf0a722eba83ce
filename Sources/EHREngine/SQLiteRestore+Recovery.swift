import EHRArchive
import EHRCore
import Foundation

/// What the next command does with the intent record of a SQLite restore that was killed.
extension SQLiteRestore {
    enum RecoveryOutcome: Equatable {
        /// Every rename had happened; only the record was left.
        case completed
        /// The moves were undone: the original set is back where it was.
        case rolledBack
        /// Nothing of the user's had been touched; the temp file was removed if it existed.
        case cleaned(removedTemp: Bool)
    }

    static func recover(_ record: IntentRecord.SQLite, phase: IntentRecord.Phase) throws -> RecoveryOutcome {
        let directory = (record.target as NSString).deletingLastPathComponent
        var outcome = RecoveryOutcome.cleaned(removedTemp: FileSystem.exists(record.temp))
        if phase == .swap, let moves = record.moves {
            // Finished exactly when the target is the temp file that was renamed in (by inode:
            // which files exist says nothing once a person has tidied some away).
            let finished = record.tempIdentity.map { FileSystem.identity(record.target) == $0 }
                ?? (!FileSystem.exists(record.temp) && FileSystem.exists(record.target) && moves.allSatisfy { FileSystem.exists($0.to) })
            if finished { return .completed }
            if try undo(moves, target: record.target, stamp: nil) { outcome = .rolledBack }
            try FileSystem.fsyncDirectory(directory)
        }
        if phase == .undo, let moves = record.moves {
            _ = try undo(moves, target: record.target, stamp: record.undoStamp)
            outcome = .rolledBack
            try FileSystem.fsyncDirectory(directory)
        }
        for suffix in ["-wal", "-shm", "-journal", ""] { unlink(record.temp + suffix) }
        try FileSystem.fsyncDirectory(directory)
        return outcome
    }

    /// Puts every moved file back under its name, the database first, then its companions
    /// (moves were made the other way round). First, anything at one of the four names that is
    /// not an original still in place (something a client created after the kill) is moved aside
    /// as `<target>.displaced-<stamp>…`, never deleted: an original must not come back beside a
    /// companion that is not its own. Returns whether anything was moved back.
    private static func undo(_ moves: [IntentRecord.Move], target: String, stamp recorded: String?) throws -> Bool {
        let stamp = recorded ?? String(Timestamp.compactUTC(Date()).prefix(15))
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = target + suffix
            let move = moves.first { $0.from == path }
            let originalStillThere = move.map { !FileSystem.exists($0.to) } ?? false
            if FileSystem.exists(path), !originalStillThere {
                try FileSystem.renameNoReplace(path, displacedName(path, target: target, stamp: stamp))
            }
        }
        var undone = 0
        for move in moves.reversed() where FileSystem.exists(move.to) {
            try FileSystem.renameNoReplace(move.to, move.from)
            undone += 1
        }
        return undone > 0
    }

    /// Why a record does not describe what a restore of this config would have done (so it is
    /// not acted on), or nil. The names a restore uses are derived, never taken from the record:
    /// the temp file is `.<name>.ehrdata-restore-<pid>.tmp` beside the target; in place, the
    /// target is the source's configured path and every move is `<target><suffix>` →
    /// `<target>.pre-restore-<stamp><suffix>`.
    static func recordProblem(_ r: IntentRecord.SQLite, phase: IntentRecord.Phase, pid: Int32, configuredPath: String?) -> String? {
        guard r.target.hasPrefix("/"), !r.target.split(separator: "/").contains("..") else { return "its target is not an absolute path" }
        guard r.temp == tempPath(for: r.target, pid: pid) else { return "its temp file is not named as a restore names it" }
        guard r.inPlace else {
            return phase == .prepare && r.moves == nil ? nil : "a restore to a new file moves nothing"
        }
        guard let configuredPath, Paths.absolute(configuredPath) == r.target else {
            return "its target is not the source's configured path"
        }
        let suffixes = ["", "-wal", "-shm", "-journal"]
        var stamps = Set<String>()
        for move in r.moves ?? [] {
            guard let suffix = suffixes.first(where: { move.from == r.target + $0 }),
                  move.to.hasPrefix(r.target + ".pre-restore-"), move.to.hasSuffix(suffix) else {
                return "a move is not one a restore makes"
            }
            let stamp = String(move.to.dropFirst((r.target + ".pre-restore-").count).dropLast(suffix.count))
            guard stamp.range(of: #"^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z$"#, options: .regularExpression) != nil else {
                return "a move is not one a restore makes"
            }
            stamps.insert(stamp)
        }
        if let undoStamp = r.undoStamp, undoStamp.range(of: #"^[0-9]{8}T[0-9]{6}$"#, options: .regularExpression) == nil {
            return "its undo stamp is not one a restore writes"
        }
        return stamps.count <= 1 ? nil : "its moves do not share one stamp"
    }

    /// `<target>.displaced-<stamp>` plus the companion's suffix, so SQLite still pairs them.
    static func displacedName(_ path: String, target: String, stamp: String) -> String {
        let suffix = path.hasPrefix(target) ? String(path.dropFirst(target.count)) : ""
        return "\(target).displaced-\(stamp)\(suffix)"
    }
}
