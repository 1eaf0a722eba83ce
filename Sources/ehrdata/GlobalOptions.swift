import ArgumentParser
import EHRConfig
import EHRCore
import EHREngine
import Foundation
import Logging

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (default: $EHRDATA_CONFIG, then /etc/ehrdata/ehrdata.yaml).",
            completion: .file(extensions: ["yaml", "yml"]))
    var config: String?

    @Flag(name: .long, help: "Print machine-readable JSON on stdout instead of text.")
    var json = false

    @Option(name: .long, help: "Log level on stderr (info shows each step; cron jobs usually want it).")
    var logLevel: Logger.Level = .warning

    @Flag(name: .long, help: "Show PostgreSQL's own error text, which may quote patient data: for a person at a terminal, never for logs.")
    var showValues = false

    /// Runs when the command line is parsed, before the command: the one place the disclosure
    /// switch is set.
    func validate() throws {
        Disclosure.showServerText = showValues
    }

    func loadConfiguration() throws -> Configuration {
        try ConfigLoader.load(explicit: config)
    }

    func makeLogger(_ label: String) -> Logger {
        Logging.bootstrapOnce(level: logLevel)
        var logger = Logger(label: "ehrdata.\(label)")
        logger.logLevel = logLevel
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum Logging {
    nonisolated(unsafe) private static var done = false
    static func bootstrapOnce(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// `--wait-lock`, for the commands that take the archive lock.
struct LockOptions: ParsableArguments {
    @Option(name: .long, help: "Wait up to this long for another ehrdata command's lock (e.g. 30s, 10m), instead of exiting 75 at once.")
    var waitLock: String?

    var seconds: Double {
        get throws {
            guard let text = waitLock else { return 0 }
            guard let s = DurationText.seconds(text) else {
                throw ValidationError("--wait-lock takes a duration such as 30s, 10m or 1h, not '\(text)'")
            }
            return s
        }
    }

    func validate() throws { _ = try seconds }
}
