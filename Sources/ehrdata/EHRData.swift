import ArgumentParser
import EHRCore
import Foundation

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
              ehrdata show latest
              ehrdata verify latest
              ehrdata restore latest --to /tmp/backend-check.sqlite
              ehrdata migrate --from backend.sqlite --to 'dbname=ehr'
              ehrdata prune --dry-run
              ehrdata status --max-age 26h

            The config file is found by --config, then $EHRDATA_CONFIG, then
            /etc/ehrdata/ehrdata.yaml. Exit statuses (docs/EXIT-CODES.md): 0 ok, 1
            failure, 64 usage, 65 verification failed, 66 not found, 73 target exists, 75
            locked or in use, 76 unsupported format, 78 configuration, 79 values do not
            fit (migrate), 80 parity check failed (migrate), 81 inconsistency found (check,
            drill), 82 a check could not run, 83 last good backup too old (status
            --max-age), 84 source damaged.
            """,
        version: EHRVersion.current,
        subcommands: [Init.self, Backup.self, List.self, Show.self, Verify.self, Restore.self, Migrate.self,
                      Check.self, Drill.self, Prune.self, HoldCommand.self, Release.self, Status.self, Metrics.self, Config.self]
    )

    /// As swift-argument-parser's own `main`, except that a command-line mistake reads like
    /// every other ehrdata error: `ehrdata: error: MESSAGE (hint: usage: …)` on one line, exit 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error where error is ExitCode || error is CleanExit || exitCode(for: error) != .validationFailure {
            exit(withError: error) // help, --version, completions, and our own already-reported failures
        } catch {
            FileHandle.standardError.write(Data((usageError(error) + "\n").utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
    }

    /// `ehrdata: error: <what is wrong> (hint: usage: <the command's usage>; 'ehrdata help <command>' shows more)`.
    static func usageError(_ error: Error) -> String {
        let full = fullMessage(for: error)
        let lines = full.split(separator: "\n", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        var message = message(for: error)
        if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
        // One line: a list of allowed values (`- trace`, `- debug`, …) joins the sentence.
        message = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }.joined(separator: " ")
        let usage = lines.first { $0.hasPrefix("Usage: ") }.map { String($0.dropFirst("Usage: ".count)) }
        let more = lines.first { $0.hasPrefix("See '") }.map { String($0.dropFirst(5).prefix { $0 != "'" }) } ?? "ehrdata --help"
        let hint = usage.map { "usage: \($0); '\(more)' shows more" } ?? "'\(more)' shows the usage"
        return "ehrdata: error: \(message) (hint: \(hint))"
    }
}
