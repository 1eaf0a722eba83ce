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

    @Option(name: .long, help: "Log level on stderr (info shows each step; cron jobs usually want it; default: $EHRDATA_LOG_LEVEL, else warning).")
    var logLevel: Logger.Level?

    @Option(name: .long, help: "Log lines on stderr as text or json, one object per event (default: $EHRDATA_LOG_FORMAT, then log.format in the config, else text).")
    var logFormat: LogFormat?

    @Flag(name: .long, help: "Show progress on stderr even when it is not a terminal.")
    var progress = false

    @Flag(name: .long, help: "Show PostgreSQL's own error text, which may quote patient data: for a person at a terminal, never for logs.")
    var showValues = false

    /// Runs when the command line is parsed, before the command: the one place the disclosure
    /// switch is set.
    func validate() throws {
        Disclosure.showServerText = showValues
        ProgressDisplay.forced = progress
        Alerts.configPath = config
        if let text = ProcessInfo.processInfo.environment["EHRDATA_LOG_LEVEL"], !text.isEmpty, Logger.Level(rawValue: text) == nil {
            throw ValidationError("EHRDATA_LOG_LEVEL is '\(text)': use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let text = ProcessInfo.processInfo.environment["EHRDATA_LOG_FORMAT"], !text.isEmpty, LogFormat(rawValue: text) == nil {
            throw ValidationError("EHRDATA_LOG_FORMAT is '\(text)': use text or json")
        }
    }

    /// --log-level, else $EHRDATA_LOG_LEVEL, else warning.
    var effectiveLogLevel: Logger.Level {
        logLevel ?? ProcessInfo.processInfo.environment["EHRDATA_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
    }

    /// --log-format, else $EHRDATA_LOG_FORMAT, else the config's log.format (if the config reads), else text.
    var effectiveLogFormat: LogFormat {
        if let logFormat { return logFormat }
        if let env = ProcessInfo.processInfo.environment["EHRDATA_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)) { return env }
        return (try? ConfigLoader.load(explicit: config))?.operations.logFormat ?? .text
    }

    func loadConfiguration() throws -> Configuration {
        try ConfigLoader.load(explicit: config)
    }

    func makeLogger(_ label: String) -> Logger {
        let level = effectiveLogLevel
        Logging.bootstrapOnce(level: level, format: effectiveLogFormat)
        Alerts.command = label
        var logger = Logger(label: "ehrdata.\(label)")
        logger.logLevel = level
        // Every line of this run carries its id (also in the manifest, metrics and alerts).
        logger[metadataKey: "run"] = "\(RunID.current)"
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}

enum Logging {
    nonisolated(unsafe) private static var done = false
    static func bootstrapOnce(level: Logger.Level, format: LogFormat) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                var handler = JSONLineLogHandler(label: label)
                handler.logLevel = level
                return handler
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
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
