import CSQLite
import Foundation

/// What `check` asks of a SQLite connection: a time limit per statement, whether a query
/// writes, and the built-in checks' pragmas.
extension SQLiteConnection {
    /// From now on, a statement running past `seconds` after it started stepping is interrupted
    /// (SQLITE_INTERRUPT, `isInterrupted`). Nil removes the limit. The limit is measured from
    /// this call, so call it before each query.
    public func setDeadline(after seconds: Double?) {
        deadlineBox = nil
        guard let seconds else {
            sqlite3_progress_handler(handle, 0, nil, nil)
            return
        }
        let box = DeadlineBox(deadline: Date().addingTimeInterval(seconds))
        deadlineBox = box
        sqlite3_progress_handler(handle, 10_000, { context in
            guard let context else { return 0 }
            let box = Unmanaged<DeadlineBox>.fromOpaque(context).takeUnretainedValue()
            return Date() >= box.deadline ? 1 : 0
        }, Unmanaged.passUnretained(box).toOpaque())
    }

    /// `PRAGMA quick_check`'s findings (no index content checked); empty means sound.
    public func quickCheckProblems(limit: Int = 20) throws -> [String] {
        var lines: [String] = []
        do {
            let statement = try prepare("PRAGMA quick_check(\(limit))")
            while try statement.step() { if let line = statement.text(at: 0) { lines.append(line) } }
            return lines == ["ok"] ? [] : lines
        } catch let error as SQLiteError where error.isCorrupt || error.isNotADatabase {
            return lines + [error.message]
        }
    }

    /// Rows that violate a foreign key (`PRAGMA foreign_key_check`), by child table; works
    /// whether or not `foreign_keys` is on.
    public func foreignKeyViolations() throws -> [(table: String, rows: Int64)] {
        let statement = try prepare("PRAGMA foreign_key_check")
        var counts: [String: Int64] = [:]
        while try statement.step() { counts[statement.text(at: 0) ?? "?", default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension SQLiteStatement {
    /// Whether the statement only reads (`sqlite3_stmt_readonly`).
    public var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }
}

extension SQLiteError {
    /// A statement stopped by `setDeadline`.
    public var isInterrupted: Bool { code == SQLITE_INTERRUPT }
}

final class DeadlineBox {
    let deadline: Date
    init(deadline: Date) { self.deadline = deadline }
}
