import ArgumentParser
import EHRConfig
import EHREngine

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the archive directory and a commented sample config.",
        discussion: """
            Writes a sample config (only if none exists at the chosen path) and creates
            the archive it names, with owner-only permissions. Running it again is
            harmless.

            Examples:
              ehrdata init --archive /srv/backups/ehrdata
              ehrdata init --config ./ehrdata.yaml --archive ./archive

            Exit status: 0 done, 73 the path exists and is something else, 78 existing
            config invalid.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Archive directory to create (default: the config's, or /var/backups/ehrdata).",
            completion: .directory)
    var archive: String?

    func run() throws {
        let path = ConfigLoader.locate(explicit: global.config).path
        try Output.run(json: global.json, { try InitEngine().run(configPath: path, archive: archive) }) { r in
            [
                r.configWritten ? "wrote sample config \(r.configPath) (edit its sources)" : "config \(r.configPath) exists; left as is",
                r.archiveCreated ? "created archive \(r.archivePath)" : "archive \(r.archivePath) already exists",
            ].joined(separator: "\n")
        }
    }
}
