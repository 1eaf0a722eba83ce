import EHRCore
import EHRPostgres
import EHRSQLite

/// Whether errors may carry PostgreSQL's own text, which can quote row values (`--show-values`).
/// Off unless the user asks; set once by the executable before a command runs.
public enum Disclosure {
    nonisolated(unsafe) public static var showServerText = false
}

/// Adapter errors become `EHRError`s here, once, keeping the library's message and adding the
/// adapter's hint and the source's name. A PostgreSQL error keeps only its value-free form
/// unless `Disclosure.showServerText`.
enum ErrorMapping {
    static func map(_ error: Error, source: String? = nil) -> Error {
        let prefix = source.map { "source '\($0)': " } ?? ""
        switch error {
        case let e as SQLiteError:
            let kind: EHRError.Kind = e.isCantOpen ? .notFound : (e.isBusy ? .locked : .failure)
            return EHRError(kind, prefix + e.description, hint: e.hint)
        case let e as PostgresError:
            let text = Disclosure.showServerText ? e.fullDescription : e.description
            return EHRError(e.sqlState == "3D000" ? .notFound : .failure, prefix + text, hint: e.hint)
        case var e as EHRError:
            if let source, !e.message.contains("'\(source)'") { e.message = prefix + e.message }
            return e
        default:
            return EHRError(.failure, prefix + "\(error)", hint: nil)
        }
    }
}
