#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRPostgres
import EHRSQLite
import Foundation

/// `ehrdata config check`: the file parsed (strictly, by the loader), each source looked at, and
/// warnings for placements that lose data on a redeploy: the original outage was database files
/// in the wrong place.
public struct ConfigCheckEngine {
    public let configuration: Configuration

    public init(configuration: Configuration) { self.configuration = configuration }

    public struct SourceStatus: Codable, Sendable {
        public var name: String
        public var kind: String
        public var location: String
        public var ok: Bool
        public var detail: String
    }

    public struct Result: Codable, Sendable {
        public var config: String
        public var archive: String
        public var sources: [SourceStatus]
        public var warnings: [String]
        public var ok: Bool

        init(config: String, archive: String, sources: [SourceStatus], warnings: [String]) {
            self.config = config
            self.archive = archive
            self.sources = sources
            self.warnings = warnings
            ok = sources.allSatisfy(\.ok)
        }
    }

    public func run() -> Result {
        var warnings = Placement.warnings(forArchive: configuration.archive)
        if let secrets = ConfigSecrets.warning(for: configuration) { warnings.append(secrets) }
        if !FileManager.default.fileExists(atPath: configuration.archive + "/" + Archive.markerName) {
            warnings.append("archive \(configuration.archive) does not exist yet; run 'ehrdata init' before the first backup")
        }
        for source in configuration.sources where source.kind == .sqlite {
            warnings += Placement.warnings(for: source, archive: configuration.archive)
        }
        var sources: [SourceStatus] = []
        for source in configuration.sources {
            let (status, found) = check(source)
            sources.append(status)
            warnings += found
        }
        return Result(config: configuration.origin, archive: configuration.archive, sources: sources, warnings: warnings)
    }

    /// The source's status, and warnings about what was found in it.
    private func check(_ source: SourceConfig) -> (SourceStatus, [String]) {
        switch source.kind {
        case .sqlite:
            return checkSQLite(source)
        case .postgres:
            return (checkPostgres(source), [])
        }
    }

    /// The same file check as `backup`, then a read-only look that changes nothing, not even a
    /// hot journal (which `backup`, opening as a writer, lets SQLite roll back).
    private func checkSQLite(_ source: SourceConfig) -> (SourceStatus, [String]) {
        let path = source.path ?? ""
        var status = SourceStatus(name: source.name, kind: "sqlite", location: path, ok: false, detail: "")
        do throws(SQLiteSourceFile.Refusal) { try SQLiteSourceFile.check(path) } catch {
            status.detail = "\(error.detail) (hint: \(error.hint))"
            return (status, [])
        }
        do {
            let db = try SQLiteConnection(path: path, mode: .readOnly)
            do {
                let mode = try db.journalMode
                let tables = try db.tableNames().count
                status.ok = true
                status.detail = "readable, journal mode \(mode), \(tables) tables"
                guard tables == 0 else { return (status, []) }
                return (status, ["source '\(source.name)': \(path) is a SQLite database with no tables: "
                                 + SQLiteSourceFile.wrongPathHint])
            } catch let error as SQLiteError where error.isHotJournal {
                // SQLite reads nothing, not even the journal mode, before the rollback, which a
                // read-only connection may not do. `backup` opens as a writer and lets it happen.
                status.ok = true
                status.detail = "a rollback-journal database with a hot journal (tables are counted once a writer has rolled it back)"
                return (status, ["source '\(source.name)': \(path) has a hot journal, which SQLite rolls back on the "
                                 + "next open by a writer (the next backup, if it may write the file); a writer "
                                 + "crashed mid-transaction, see the service's logs"])
            }
        } catch let error as SQLiteError {
            status.detail = "\(error.message) (hint: \(error.hint))"
        } catch {
            status.detail = "\(error)"
        }
        return (status, [])
    }

    private func checkPostgres(_ source: SourceConfig) -> SourceStatus {
        var status = SourceStatus(name: source.name, kind: "postgres",
                                  location: PostgresConnection.displayForm(source.connection ?? ""), ok: false, detail: "")
        do {
            let db = try PostgresConnection(connectionString: source.connection ?? "",
                                            overrides: [("application_name", "ehrdata config check")])
            let info = try PostgresCatalog(db).database()
            let tools = try PostgresTools.locate().majorVersion()
            guard tools.major >= info.serverVersionNum / 10000 else {
                status.detail = "\(tools.text) cannot dump server \(info.serverVersion); install newer client tools"
                return status
            }
            status.ok = true
            status.detail = "connected: PostgreSQL \(info.serverVersion), database \(info.name) (\(info.encoding)), \(tools.text)"
        } catch let error as PostgresError {
            status.detail = "\(error.message) (hint: \(error.hint))"
        } catch {
            status.detail = "\(error)"
        }
        return status
    }
}

/// Where files live, and what that means for surviving a redeploy.
enum Placement {
    static func warnings(for source: SourceConfig, archive: String) -> [String] {
        guard let path = source.path else { return [] }
        var out: [String] = []
        if let written = source.pathAsWritten, !written.hasPrefix("/") {
            out.append("source '\(source.name)': path '\(written)' is relative (resolved against the config file's directory to \(path)); write it absolute")
        }
        if !FileManager.default.fileExists(atPath: path) {
            out.append("source '\(source.name)': \(path) does not exist; a service that cannot find its database may create an empty one elsewhere")
        }
        if let kind = volatileKind(of: existingAncestor(path)) {
            out.append("source '\(source.name)': \(path) is on \(kind), which does not survive a restart or redeploy; move it to a persistent volume")
        }
        if let a = device(existingAncestor(archive)), let s = device(existingAncestor(path)), a == s {
            out.append("source '\(source.name)': the archive is on the same filesystem as \(path); a lost disk loses both, so put the archive elsewhere")
        }
        return out
    }

    static func warnings(forArchive archive: String) -> [String] {
        guard let kind = volatileKind(of: existingAncestor(archive)) else { return [] }
        return ["archive \(archive) is on \(kind), which does not survive a restart or redeploy; move it to a persistent volume"]
    }

    /// The path itself if it exists, else its nearest existing parent directory.
    static func existingAncestor(_ path: String) -> String {
        var current = path
        while !FileManager.default.fileExists(atPath: current), current != "/" {
            current = (current as NSString).deletingLastPathComponent
            if current.isEmpty { return "/" }
        }
        return current
    }

    static func device(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_dev) : nil
    }

    /// tmpfs, ramfs, or a container's writable overlay layer.
    static func volatileKind(of path: String) -> String? {
        guard let type = FileSystem.filesystemType(path) else { return nil }
        switch type {
        case 0x0102_1994: return "tmpfs"
        case 0x8584_58F6: return "ramfs"
        case 0x794C_7630: return "an overlay filesystem (a container's writable layer)"
        default: return nil
        }
    }
}
