import EHRArchive
import EHRCore
import Logging

/// What a PostgreSQL backup can cheaply tell about the source itself: tables that were in the
/// previous snapshot of the source and are gone, and tables whose row count fell by more than
/// the configured share (docs/ARCHIVE-FORMAT.md, `sourceCheck`). A dropped table or a mass
/// delete backed up nightly would otherwise push the good copies out of retention unnoticed.
enum PostgresShrinkCheck {
    /// Tables smaller than this before are not judged by share: two rows going to none is noise.
    static let minimumRows: Int64 = 10

    /// The check of `current` against the newest readable earlier snapshot holding a PostgreSQL
    /// source of the same name that was not itself flagged: compared with last night's damaged
    /// snapshot, tonight's would look fine, and the flag would last one night while retention
    /// removes the good copies. nil when there is none.
    static func check(_ current: Manifest.Source, rowDropPercent: Int, archive: Archive) -> Manifest.SourceCheck? {
        guard let info = current.postgres else { return nil }
        for id in ((try? archive.snapshotIDs()) ?? []).reversed().prefix(60) {
            guard let manifest = try? archive.manifest(of: id),
                  let source = manifest.sources.first(where: { $0.name == current.name && $0.kind == .postgres }),
                  !source.sourceDamaged, let previous = source.postgres else { continue }
            return Manifest.SourceCheck(method: Manifest.SourceCheck.previousSnapshot, against: id.rawValue,
                                        problems: problems(info, previous, rowDropPercent: rowDropPercent, against: id))
        }
        return nil
    }

    static func problems(_ now: Manifest.PostgresInfo, _ before: Manifest.PostgresInfo, rowDropPercent: Int,
                         against id: SnapshotID) -> [String] {
        let rowsNow = Dictionary(now.tables.map { ("\($0.schema).\($0.name)", $0.rows) }, uniquingKeysWith: { a, _ in a })
        var problems: [String] = []
        for table in before.tables {
            let name = "\(table.schema).\(table.name)"
            guard let rows = rowsNow[name] else {
                problems.append("table \(name) is gone (it was in snapshot \(id), with \(table.rows) rows)")
                continue
            }
            guard table.rows >= minimumRows, rows < table.rows else { continue }
            let dropped = Double(table.rows - rows) / Double(table.rows) * 100
            if dropped > Double(rowDropPercent) {
                problems.append("table \(name) has \(rows) rows, \(table.rows) in snapshot \(id) (\(Int(dropped.rounded()))% fewer)")
            }
        }
        return problems
    }
}
