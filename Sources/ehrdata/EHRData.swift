import ArgumentParser
import EHRCore

@main
struct EHRData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ehrdata",
        abstract: "Consistent backups, verification and safe restores of an EHR system's databases.",
        discussion: """
            Every configured SQLite file and PostgreSQL database is captured online into
            one compressed (gzip, or zstd), SHA-256-checksummed snapshot in a versioned
            archive.

            Examples:
              ehrdata init --archive /srv/backups/ehrdata
              ehrdata backup
              ehrdata list
              ehrdata verify latest
              ehrdata restore latest --to /tmp/backend-check.sqlite

            The config file is found by --config, then $EHRDATA_CONFIG, then
            /etc/ehrdata/ehrdata.yaml. Exit statuses (docs/EXIT-CODES.md): 0 ok, 1
            failure, 64 usage, 65 verification failed, 66 not found, 73 target exists, 75
            locked or in use, 76 unsupported format, 78 configuration.
            """,
        version: EHRVersion.current,
        subcommands: [Init.self, Backup.self, List.self, Verify.self, Restore.self, Config.self]
    )
}
