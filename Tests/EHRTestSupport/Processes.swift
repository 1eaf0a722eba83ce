import Foundation

/// The outcome of running a program to completion.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs programs the way a user would: real processes, real files.
public enum Run {
    /// Runs `executable` with `arguments`, waits, and returns status and output.
    @discardableResult
    public static func program(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                               stdin: String? = nil, directory: String? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child cannot fill one and block.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The sqlite3 command-line tool, independent of ehrdata's own SQLite code.
    public static func sqlite3(_ database: String, _ sql: String) throws -> ProcessResult {
        try program("/usr/bin/sqlite3", ["-batch", database], stdin: sql)
    }

    /// `sqlite3 DB .dump`, the reference for "same content".
    public static func dump(_ database: String) throws -> String {
        let r = try sqlite3(database, ".dump\n")
        guard r.status == 0 else { fatalError("sqlite3 .dump failed: \(r.stderr)") }
        return r.stdout
    }

    /// The built `ehrdata` binary: $EHRDATA_BINARY, else beside the test bundle.
    public static var binary: String {
        if let env = ProcessInfo.processInfo.environment["EHRDATA_BINARY"], !env.isEmpty { return env }
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDir, bundleDir.deletingLastPathComponent(),
                          bundleDir.deletingLastPathComponent().deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("ehrdata").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return Repository.root + "/.build/debug/ehrdata"
    }

    /// Runs `ehrdata` with `arguments`.
    @discardableResult
    public static func ehrdata(_ arguments: [String], config: String? = nil,
                               environment: [String: String] = [:]) throws -> ProcessResult {
        var env = environment
        if let config { env["EHRDATA_CONFIG"] = config }
        return try program(binary, arguments, environment: env)
    }
}
