import EHRSQLite
import EHRTestSupport
import Foundation
import Testing

/// A temp directory with a source database, a config naming it, and an initialised archive,
/// driven through the real `ehrdata` binary.
final class Workspace {
    let dir = TempDirectory("ehrdata-cli")
    var config: String { dir.file("ehrdata.yaml") }
    var archive: String { dir.file("archive") }
    var source: String { dir.file("backend.sqlite") }

    /// Copies the committed fixture (never touching it) unless `database` is given.
    init(database: String? = nil, initialise: Bool = true) throws {
        try FileManager.default.copyItem(atPath: database ?? Repository.fixture, toPath: source)
        try writeConfig()
        if initialise {
            let r = try run(["init"])
            #expect(r.status == 0, "init failed: \(r.stderr)")
        }
    }

    func writeConfig(extra: String = "") throws {
        try """
        archive: \(archive)
        sources:
          - name: backend
            kind: sqlite
            path: \(source)
        \(extra)
        """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try Run.ehrdata(arguments, config: config, environment: environment)
    }

    /// Runs a command that must succeed and returns its stdout.
    func ok(_ arguments: [String]) throws -> String {
        let r = try run(arguments)
        #expect(r.status == 0, "ehrdata \(arguments.joined(separator: " ")) failed: \(r.stderr)")
        return r.stdout
    }

    func snapshotIDs() throws -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: archive + "/snapshots"))?.sorted() ?? []
    }

    func snapshotDirectory(_ id: String) -> String { archive + "/snapshots/" + id }

    func manifestJSON(_ id: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: snapshotDirectory(id) + "/manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The workspace's state without the archive's lock files, whose content only says who
    /// holds them, and without the backup run record, which a failed backup writes on purpose
    /// (docs/ARCHIVE-FORMAT.md, "Run records"; StatusMetricsTests checks it).
    func archiveState() throws -> TreeState {
        var state = try TreeState(dir.path)
        state.entries["archive/write.lock"] = nil
        state.entries["archive/read.lock"] = nil
        state.entries["archive/runs"] = nil
        state.entries["archive/runs/backup.json"] = nil
        return state
    }
}

/// Asserts a failed run: its exit code, a single-line error naming `mentions`.
func expectFailure(_ r: ProcessResult, code: Int32, mentions: [String],
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == code, "expected exit \(code), got \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    let errorLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("ehrdata: error:") }
    #expect(errorLines.count == 1, "expected one error line in: \(r.stderr)", sourceLocation: sourceLocation)
    for word in mentions {
        #expect(r.stderr.contains(word), "error does not mention '\(word)': \(r.stderr)", sourceLocation: sourceLocation)
    }
    #expect(r.stderr.contains("hint:"), "error has no hint: \(r.stderr)", sourceLocation: sourceLocation)
}
