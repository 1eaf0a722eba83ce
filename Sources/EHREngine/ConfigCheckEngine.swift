import EHRCore
import EHRSQLite
import Foundation

/// `ehrdata config check`: the file parsed (strictly, by the loader) and each source looked at.
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
        public var ok: Bool { sources.allSatisfy(\.ok) }
    }

    public func run() -> Result {
        Result(config: configuration.origin, archive: configuration.archive,
               sources: configuration.sources.map(check))
    }

    private func check(_ source: SourceConfig) -> SourceStatus {
        switch source.kind {
        case .sqlite:
            let path = source.path ?? ""
            var status = SourceStatus(name: source.name, kind: "sqlite", location: path, ok: false, detail: "")
            guard FileManager.default.fileExists(atPath: path) else {
                status.detail = "database file does not exist"
                return status
            }
            do {
                let db = try SQLiteConnection(path: path, mode: .readOnly)
                let mode = try db.journalMode
                let tables = try db.tableNames().count
                status.ok = true
                status.detail = "readable, journal mode \(mode), \(tables) tables"
            } catch let error as SQLiteError {
                status.detail = "\(error.message) (hint: \(error.hint))"
            } catch {
                status.detail = "\(error)"
            }
            return status
        case .postgres:
            // Connecting is the PostgreSQL issue's job; the location is shown without secrets.
            return SourceStatus(name: source.name, kind: "postgres",
                                location: Redaction.connectionString(source.connection ?? ""), ok: true,
                                detail: "not contacted by this version")
        }
    }
}

/// Connection strings may carry a password; reports show them without it.
public enum Redaction {
    public static func connectionString(_ s: String) -> String {
        var out = s
        // key=value form
        if let r = out.range(of: #"password\s*=\s*('[^']*'|\S+)"#, options: .regularExpression) {
            out.replaceSubrange(r, with: "password=***")
        }
        // URI form: scheme://user:secret@host
        if let r = out.range(of: #"://[^:/@]+:[^@]+@"#, options: .regularExpression) {
            let userPart = out[r].dropFirst(3).split(separator: ":").first.map(String.init) ?? ""
            out.replaceSubrange(r, with: "://\(userPart):***@")
        }
        return out
    }
}
