#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRSQLite
import Foundation

/// One SQLite source coming back from a snapshot: streamed into a temp file beside its target,
/// verified there, then renamed into place.
final class SQLiteRestore {
    let archive: Archive
    let snapshot: SnapshotID
    let source: Manifest.Source
    let target: String
    let temp: String
    private var tempExists = false

    init(archive: Archive, snapshot: SnapshotID, source: Manifest.Source, target: String) {
        self.archive = archive
        self.snapshot = snapshot
        self.source = source
        self.target = target
        temp = Self.tempPath(for: target, pid: getpid())
    }

    /// The hidden temp file beside `target` that restore `pid` writes: the only name recovery
    /// removes for a `--to` record, whatever the record says.
    static func tempPath(for target: String, pid: Int32) -> String {
        let directory = (target as NSString).deletingLastPathComponent
        let base = (target as NSString).lastPathComponent
        return "\(directory)/.\(base).ehrdata-restore-\(pid).tmp"
    }

    static func checkNewTarget(_ target: String) throws {
        if FileSystem.exists(target) {
            throw EHRError(.targetExists, "\(target) already exists; restore --to never overwrites a file",
                           hint: "choose a new path, or restore in place without --to (it keeps the current file)")
        }
        let directory = (target as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(directory) else {
            throw EHRError(.notFound, "directory \(directory) does not exist", hint: "create it first or choose another --to path")
        }
    }

    /// The database and its companions that exist now, with the names they will be kept under.
    /// The suffixes stay after the new name so SQLite still pairs the kept database with its WAL.
    static func filesToKeep(_ target: String, stamp: String) -> [RestoreEngine.Kept] {
        let kept = "\(target).pre-restore-\(stamp)"
        return ["", "-wal", "-shm", "-journal"].compactMap { suffix in
            let path = target + suffix
            guard FileSystem.exists(path) else { return nil }
            return RestoreEngine.Kept(path: path, keptAs: kept + suffix, bytes: (try? FileSystem.size(path)) ?? 0)
        }
    }

    static func holders(of target: String) -> [String] {
        SQLiteFileUsage.holders(of: target).map(\.description)
    }

    /// Streams and verifies the copy into the temp file. Nothing outside the temp file changes.
    func materialize() throws {
        let reader = try DataFileReader(archive: archive, snapshot: snapshot, entry: source.files[0])
        let output = try OutputFile(creating: temp)
        tempExists = true
        try reader.read { try output.write($0) }
        try output.sync()
        try output.close()
        try check()
    }

    private func check() throws {
        guard let info = source.sqlite else { return }
        let db = try SQLiteConnection(path: temp, mode: .immutable)
        let problems = try db.integrityProblems()
        guard problems.isEmpty else {
            if source.sourceDamaged {
                throw EHRError(.verificationFailed,
                               "the restored copy fails integrity_check: the source was already damaged when it was backed up (the snapshot says so)",
                               hint: "use an older snapshot that 'ehrdata list' shows without 'source damaged'; if this is all there is, restore it by hand (docs/RUNBOOK.md, \"Restoring by hand\")")
            }
            throw EHRError(.verificationFailed, "the restored copy fails integrity_check: \(problems[0].replacingOccurrences(of: "\n", with: " "))",
                           hint: "this snapshot's copy is damaged; use another snapshot")
        }
        guard try db.pageSize == info.pageSize, try db.userVersion == info.userVersion else {
            throw EHRError(.verificationFailed, "the restored copy's page size or user_version differs from the manifest",
                           hint: "this snapshot's copy is damaged; use another snapshot")
        }
    }

    func publishNewFile() throws {
        try FileSystem.renameNoReplace(temp, target)
        tempExists = false
        try FileSystem.fsyncDirectory((target as NSString).deletingLastPathComponent)
    }

    /// Moves the current files aside (companions first, so a stale -wal can never pair with the
    /// restored database), then renames the verified copy into place. The restored file takes the
    /// replaced database's owner and mode, so the service can open it. Before the first rename
    /// the moves are written into the intent record (if there is one), so that a kill between
    /// any two renames is undone by the next command (`recover`).
    func swapInPlace(stamp: String, intent: HeldIntent?) throws {
        // Listed again now: a -wal may have appeared or gone since the plan was shown.
        let kept = SQLiteRestore.filesToKeep(target, stamp: stamp)
        if let original = kept.first(where: { $0.path == target }) {
            var st = stat()
            if stat(original.path, &st) == 0 {
                chown(temp, st.st_uid, st.st_gid)
                chmod(temp, st.st_mode & 0o7777)
            }
        }
        let moves = kept.sorted(by: { $0.path.count > $1.path.count }).map { IntentRecord.Move(from: $0.path, to: $0.keptAs) }
        // Every kept name must be free before anything moves: then whatever stands at a kept name
        // later is ours, which is what undoing the swap after a kill relies on.
        if let taken = moves.first(where: { FileSystem.exists($0.to) }) {
            throw EHRError(.targetExists, "\(taken.to) already exists; nothing was moved",
                           hint: "retry in a second (the kept names carry the time), or move that file away")
        }
        var record = intent?.record.sqlite ?? .init(target: target, temp: temp, inPlace: true)
        record.moves = moves
        record.tempIdentity = FileSystem.identity(temp)
        if let intent {
            var updated = intent.record
            updated.phase = .swap
            updated.sqlite = record
            try intent.update(updated)
        }
        var done = 0
        do {
            for (step, move) in moves.enumerated() {
                TestHooks.checkpoint("sqlite-swap-rename-\(step + 1)")
                try FileSystem.renameNoReplace(move.from, move.to)
                done += 1
            }
            TestHooks.checkpoint("sqlite-swap-rename-restored")
            try FileSystem.renameNoReplace(temp, target)
        } catch {
            // A rename failed (a file appeared at a name, a disk error): undo what was done,
            // here and now. Only the moves that were made are undone: a rename that failed
            // because a file appeared at its kept name left the original where it was, and the
            // file at the kept name is not ours. If even that fails, the record stays for the
            // next command, and the error says so.
            do { try Self.moveBack(Array(moves.prefix(done)), target: target) } catch let undo {
                intent?.abandon()
                throw EHRError(.failure, "the in-place swap of \(target) failed (\(Self.reason(error))) and could not be undone (\(Self.reason(undo)))",
                               hint: "see docs/RUNBOOK.md, \"After a killed restore\"; the next ehrdata command tries the undo again")
            }
            // The temp file is still there; discardTemp removes it.
            throw EHRError((error as? EHRError)?.kind ?? .failure,
                           "the in-place swap of \(target) was undone, nothing changed: \(Self.reason(error))",
                           hint: "a file appeared beside the database during the swap (did a service start?): stop what uses it and retry")
        }
        tempExists = false
        swapped = (moves, FileSystem.identity(target), Self.fingerprint(target))
        try FileSystem.fsyncDirectory((target as NSString).deletingLastPathComponent)
        TestHooks.checkpoint("sqlite-swap-done")
    }

    /// Puts `moves` (made in order) back, newest first. Anything that appeared at a name a move
    /// left free is kept as `<target>.displaced-<stamp>…`, never deleted.
    static func moveBack(_ moves: [IntentRecord.Move], target: String) throws {
        let stamp = String(Timestamp.compactUTC(Date()).prefix(15))
        for move in moves.reversed() {
            if FileSystem.exists(move.from) {
                try FileSystem.renameNoReplace(move.from, displacedName(move.from, target: target, stamp: stamp))
            }
            try FileSystem.renameNoReplace(move.to, move.from)
        }
        try FileSystem.fsyncDirectory((target as NSString).deletingLastPathComponent)
    }

    /// What a finished swap did, for `undoSwap`: its moves, and the restored file's identity
    /// and size and modification time right after it was renamed in.
    private var swapped: (moves: [IntentRecord.Move], identity: String?, fingerprint: String?)?

    /// Undoes a finished swap (another source of the same restore failed): the replaced files go
    /// back under their names. The restored copy is removed when it is provably untouched (the
    /// same inode, size and mtime as when it was put in place, and no -wal, -shm or -journal
    /// beside it, so nothing opened it for writing); otherwise it is kept as
    /// `<target>.displaced-<stamp>`, whose name is returned. The intent record keeps describing
    /// the swap until this is done, so a kill in the middle is undone by the next command.
    func undoSwap(intent: HeldIntent?) throws -> String? {
        guard let swapped else { return nil }
        let companions = ["-wal", "-shm", "-journal"].filter { FileSystem.exists(target + $0) }
        let untouched = companions.isEmpty && swapped.identity != nil && FileSystem.identity(target) == swapped.identity
            && Self.fingerprint(target) == swapped.fingerprint
        let stamp = String(Timestamp.compactUTC(Date()).prefix(15))
        // Recorded first: a kill during the undo is then finished by the next command, not
        // mistaken for a finished swap (the target still being the restored file).
        if let intent, var sqlite = intent.record.sqlite {
            var record = intent.record
            sqlite.undoStamp = stamp
            record.phase = .undo
            record.sqlite = sqlite
            try intent.update(record)
        }
        var displaced: String?
        if untouched {
            try FileSystem.renameNoReplace(target, temp)
            tempExists = true
        } else if FileSystem.exists(target) {
            // The database first, then its companions, under one stamp: a kill in between leaves
            // the rest for the next command, which uses the same stamp.
            for suffix in [""] + companions {
                try FileSystem.renameNoReplace(target + suffix, Self.displacedName(target + suffix, target: target, stamp: stamp))
                if suffix.isEmpty { TestHooks.checkpoint("sqlite-undo-database-aside") }
            }
            displaced = Self.displacedName(target, target: target, stamp: stamp)
        }
        try Self.moveBack(swapped.moves, target: target)
        self.swapped = nil
        return displaced
    }

    /// Size and modification time (to the nanosecond): a write changes at least one.
    static func fingerprint(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    static func reason(_ error: Error) -> String { (error as? EHRError)?.message ?? "\(error)" }

    /// Removes the temp file (and anything SQLite made beside it) if it was not published.
    func discardTemp() {
        guard tempExists else { return }
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
        tempExists = false
    }
}
