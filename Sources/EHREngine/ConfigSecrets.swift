#if canImport(Glibc)
import Glibc
#endif
import EHRCore
import EHRPostgres

/// A config file that holds a password must be readable by its owner only: `config check` and
/// `backup` warn otherwise (docs/CONFIGURATION.md, "Secrets").
enum ConfigSecrets {
    /// The warning, or nil when no source's connection string carries a password or the file
    /// is not readable by group or others.
    static func warning(for configuration: Configuration) -> String? {
        let holdsPassword = configuration.sources.contains { source in
            source.connection.map(PostgresConnection.holdsSecret) ?? false
        }
        var st = stat()
        guard holdsPassword, stat(configuration.origin, &st) == 0, st.st_mode & 0o077 != 0 else { return nil }
        let mode = String(st.st_mode & 0o777, radix: 8)
        return "config file \(configuration.origin) holds a password and is readable by group or others (mode 0\(mode)); "
            + "run 'chmod 600 \(configuration.origin)', or move the password to ~/.pgpass or PGPASSWORD"
    }
}
