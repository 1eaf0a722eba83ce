import Foundation

/// PostgreSQL's own client programs (pg_dump, pg_restore), run with the connection handed over
/// through their environment (PGHOST, PGPASSWORD, …) so a password never appears on a command
/// line where `ps` would show it.
public struct PostgresTools: Sendable {
    public let binDirectory: String

    /// Finds the tools: `pg_config --bindir` (Debian keeps them off PATH), then PATH.
    public static func locate() throws -> PostgresTools {
        if let out = try? run("/usr/bin/env", ["pg_config", "--bindir"], environment: nil),
           out.status == 0 {
            let dir = String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if FileManager.default.isExecutableFile(atPath: dir + "/pg_dump") { return PostgresTools(binDirectory: dir) }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/pg_dump") { return PostgresTools(binDirectory: String(dir)) }
        }
        throw PostgresError(message: "pg_dump was not found", context: "looking for PostgreSQL's client tools")
    }

    /// The major version of pg_dump (15 for 15.18).
    public func majorVersion() throws -> (major: Int, text: String) {
        let out = try PostgresTools.run(binDirectory + "/pg_dump", ["--version"], environment: nil)
        let text = String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let number = text.split(separator: " ").last.map(String.init) ?? ""
        return (Int(number.split(separator: ".").first ?? "") ?? 0, text)
    }

    /// The environment that makes a client program connect like `connectionString` would.
    public static func environment(for connectionString: String, overrides: [String: String] = [:]) throws -> [String: String] {
        let names = [
            "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
            "password": "PGPASSWORD", "passfile": "PGPASSFILE", "service": "PGSERVICE", "options": "PGOPTIONS",
            "application_name": "PGAPPNAME", "sslmode": "PGSSLMODE", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
            "sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL", "connect_timeout": "PGCONNECT_TIMEOUT",
            "gssencmode": "PGGSSENCMODE", "channel_binding": "PGCHANNELBINDING",
            "target_session_attrs": "PGTARGETSESSIONATTRS", "krbsrvname": "PGKRBSRVNAME",
        ]
        var env = ProcessInfo.processInfo.environment
        for (keyword, value) in try PostgresConnection.parse(connectionString) {
            if let name = names[keyword] { env[name] = value }
        }
        for (k, v) in overrides { env[k] = v }
        return env
    }

    /// Runs a tool, streaming its stdout to `output` in chunks. Throws with the first line of its
    /// stderr when it fails.
    public func stream(_ tool: String, _ arguments: [String], environment: [String: String],
                       output: (UnsafeRawBufferPointer) throws -> Void) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/" + tool)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errors = StderrCollector(err.fileHandleForReading)
        let fd = out.fileHandleForReading.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var failure: Error?
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if failure == nil {
                do { try buffer.withUnsafeBytes { try output(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) } } catch {
                    failure = error
                    // SIGKILL, not SIGTERM: a parent may have left SIGTERM blocked, and the
                    // child inherits that mask.
                    kill(process.processIdentifier, SIGKILL)
                }
            }
        }
        process.waitUntilExit()
        let stderrText = errors.text()
        if let failure { throw failure }
        guard process.terminationStatus == 0 else {
            // pg_restore opens with context lines ("while PROCESSING TOC:", "from TOC entry …");
            // the error itself is the line that says so.
            let lines = stderrText.split(separator: "\n").filter { !$0.isEmpty }
            let line = (lines.first { $0.contains(": error: ") } ?? lines.first).map(String.init)
                ?? "exited with status \(process.terminationStatus)"
            throw PostgresError(sqlState: PostgresConnection.guessState(line), safe: PostgresErrorText.reduce(freeText: line),
                                serverText: line, context: "running \(tool)")
        }
    }

    /// Runs a tool to completion with no output expected.
    public func run(_ tool: String, _ arguments: [String], environment: [String: String]) throws {
        try stream(tool, arguments, environment: environment) { _ in }
    }

    static func run(_ path: String, _ arguments: [String], environment: [String: String]?) throws -> (status: Int32, stdout: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }
}

/// Reads a child's stderr on a background thread so a chatty child cannot block on a full pipe.
private final class StderrCollector: @unchecked Sendable { // `data` is written once, read after `done`
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
