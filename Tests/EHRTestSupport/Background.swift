import Foundation

/// An `ehrdata` process started in the background, usually paused by a test hook
/// (`EHRDATA_TEST_PAUSE_*`, see EHRArchive's TestHooks) so a test can act while it holds a lock
/// or has written part of its data.
public final class Background {
    public let process = Process()
    public let hookDirectory: TempDirectory
    private let out = Pipe(), err = Pipe()

    public init(_ arguments: [String], config: String, environment: [String: String] = [:]) throws {
        hookDirectory = TempDirectory("ehrdata-hook")
        process.executableURL = URL(fileURLWithPath: Run.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["EHRDATA_CONFIG"] = config
        env["EHRDATA_TEST_HOOK_DIR"] = hookDirectory.path
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until the hook has paused the process; false if it exited first.
    public func waitUntilPaused() -> Bool {
        let marker = hookDirectory.file("paused")
        while !FileManager.default.fileExists(atPath: marker) {
            if !process.isRunning { return false }
            usleep(10_000)
        }
        return true
    }

    public func resume() {
        FileManager.default.createFile(atPath: hookDirectory.file("resume"), contents: Data())
    }

    /// SIGKILL, like a crash or an OOM kill.
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func finish() -> ProcessResult {
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                             stderr: String(decoding: e, as: UTF8.self))
    }
}
