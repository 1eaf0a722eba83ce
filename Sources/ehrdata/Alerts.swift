import EHRConfig
import EHRCore
import Foundation

/// `on_failure` from the config: run after any command that fails, with the failure in its
/// environment (EHRDATA_COMMAND, EHRDATA_EXIT_CODE, EHRDATA_ERROR, EHRDATA_RUN_ID): the message
/// as ehrdata printed it, which never holds a row value or a password (unless --show-values was
/// given). Its output goes to stderr (stdout may be --json); its own failure or timeout is
/// reported on stderr and never changes ehrdata's exit code.
enum Alerts {
    nonisolated(unsafe) static var configPath: String?
    nonisolated(unsafe) static var command = CommandLine.arguments.dropFirst().first { !$0.hasPrefix("-") } ?? "ehrdata"
    nonisolated(unsafe) private static var fired = false

    static func fire(_ error: EHRError) {
        guard !fired else { return }
        fired = true
        guard let hook = (try? ConfigLoader.load(explicit: configPath))?.operations.onFailure else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hook.command[0])
        process.arguments = Array(hook.command.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["EHRDATA_COMMAND"] = command
        environment["EHRDATA_EXIT_CODE"] = "\(error.kind.exitCode)"
        environment["EHRDATA_ERROR"] = error.message
        environment["EHRDATA_RUN_ID"] = RunID.current
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do {
            try process.run()
        } catch {
            warn("the on_failure command \(hook.command[0]) could not start: \(error.localizedDescription)")
            return
        }
        if done.wait(timeout: .now() + hook.timeoutSeconds) == .timedOut {
            process.terminate()
            if done.wait(timeout: .now() + 2) == .timedOut { kill(process.processIdentifier, SIGKILL); done.wait() }
            warn("the on_failure command \(hook.command[0]) was stopped after \(hook.timeoutSeconds) s")
            return
        }
        if process.terminationStatus != 0 {
            warn("the on_failure command \(hook.command[0]) exited \(process.terminationStatus)")
        }
    }

    private static func warn(_ text: String) {
        FileHandle.standardError.write(Data("ehrdata: warning: \(text) (ehrdata's own exit status is unchanged)\n".utf8))
    }
}
