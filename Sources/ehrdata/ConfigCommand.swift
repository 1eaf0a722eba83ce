import ArgumentParser
import EHRCore
import EHREngine

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the config file.",
        subcommands: [Check.self, Sample.self])

    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a commented sample config (the one init writes) on stdout.",
            discussion: """
                For installers and for a person starting a config by hand: every key with a
                comment, the archive set to --archive. Nothing is written or checked.

                Examples:
                  ehrdata config sample --archive /srv/backups/ehrdata > /etc/ehrdata/ehrdata.yaml

                Exit status: 0.
                """)

        @Option(help: "The archive directory the sample names.")
        var archive = "/srv/backups/ehrdata"

        func run() throws {
            print(InitEngine.sampleConfig(archive: archive), terminator: "")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse the config strictly and look at each source.",
            discussion: """
                Rejects unknown or misspelled keys, wrong types and missing keys, naming the
                key and its line. Then checks that each SQLite source is a regular file that
                starts with the SQLite header (a FIFO, device, directory, empty or other file
                fails, as backup refuses it), opens it read-only, connects to each PostgreSQL
                source (and checks pg_dump can dump it), and warns about a database with no
                tables, a hot journal (rolled back on the next open by a writer), and placements
                that lose data on a redeploy: a relative or missing source path, a source or
                archive on tmpfs or a container's overlay layer, an archive on the same
                filesystem as a source.

                Examples:
                  ehrdata config check
                  ehrdata config check --config ./ehrdata.yaml --json

                Exit status: 0 valid and every source readable (warnings may be printed), 1 a
                source is not readable, 78 the config is invalid.
                """)

        @OptionGroup var global: GlobalOptions

        func run() throws {
            var result: ConfigCheckEngine.Result?
            try Output.run(json: global.json, {
                let r = ConfigCheckEngine(configuration: try global.loadConfiguration()).run()
                result = r
                return r
            }) { r in
                (["config \(r.config): valid", "archive: \(r.archive)"] + r.sources.map {
                    "\($0.ok ? "ok  " : "FAIL") \($0.name) (\($0.kind)) \($0.location): \($0.detail)"
                } + r.warnings.map { "warning: \($0)" }).joined(separator: "\n")
            }
            if let result, !result.ok {
                try Output.fail(EHRError(.failure, "a source is not usable", hint: "see the lines marked FAIL"),
                                json: global.json)
            }
        }
    }
}
