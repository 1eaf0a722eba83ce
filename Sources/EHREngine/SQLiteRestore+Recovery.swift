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
            let everyMoveDone = moves.allSatisfy { FileSystem.exists($0.to) }
            if !FileSystem.exists(record.temp) && FileSystem.exists(record.target) && everyMoveDone {
                return .completed
            }
            // Undo, the database first, then its companions (moves were made the other way
            // round): each kept file goes back under its name. Anything a client created at
            // that name meanwhile is moved aside, never deleted.
            let stamp = String(Timestamp.compactUTC(Date()).prefix(15))
            var undone = 0
            for move in moves.reversed() where FileSystem.exists(move.to) {
                if FileSystem.exists(move.from) {
                    try FileSystem.renameNoReplace(move.from, displacedName(move.from, target: record.target, stamp: stamp))
                }
                try FileSystem.renameNoReplace(move.to, move.from)
                undone += 1
            }
            try FileSystem.fsyncDirectory(directory)
            if undone > 0 { outcome = .rolledBack }
        }
        for suffix in ["-wal", "-shm", "-journal", ""] { unlink(record.temp + suffix) }
        try FileSystem.fsyncDirectory(directory)
        return outcome
    }

    /// `<target>.displaced-<stamp>` plus the companion's suffix, so SQLite still pairs them.
    static func displacedName(_ path: String, target: String, stamp: String) -> String {
        let suffix = path.hasPrefix(target) ? String(path.dropFirst(target.count)) : ""
        return "\(target).displaced-\(stamp)\(suffix)"
    }
}
