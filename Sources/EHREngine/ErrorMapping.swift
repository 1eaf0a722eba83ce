import EHRCore
import EHRPostgres
import EHRSQLite

/// Adapter errors become `EHRError`s here, once, keeping the library's message and adding the
/// adapter's hint and the source's name.
enum ErrorMapping {
    static func map(_ error: Error, source: String? = nil) -> Error {
        let prefix = source.map { "source '\($0)': " } ?? ""
        switch error {
        case let e as SQLiteError:
            let kind: EHRError.Kind = e.isCantOpen ? .notFound : (e.isBusy ? .locked : .failure)
            return EHRError(kind, prefix + e.description, hint: e.hint)
        case let e as PostgresError:
            return EHRError(e.sqlState == "3D000" ? .notFound : .failure, prefix + e.description, hint: e.hint)
        case var e as EHRError:
            if let source, !e.message.contains("'\(source)'") { e.message = prefix + e.message }
            return e
        default:
            return EHRError(.failure, prefix + "\(error)", hint: nil)
        }
    }
}
