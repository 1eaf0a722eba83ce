import ArgumentParser
import EHRCore
import EHREngine

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the config file.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse the config strictly and look at each source.",
            discussion: """
                Rejects unknown or misspelled keys, wrong types and missing keys, naming the key and
                its line. Then opens each SQLite source read-only.

                Examples:
                  ehrdata config check
                  ehrdata config check --config ./ehrdata.yaml --json

                Exit status: 0 valid and every source readable, 1 a source is not readable,
                78 the config is invalid.
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
                }).joined(separator: "\n")
            }
            if let result, !result.ok {
                try Output.fail(EHRError(.failure, "a source is not usable", hint: "see the lines marked FAIL"),
                                json: global.json)
            }
        }
    }
}
