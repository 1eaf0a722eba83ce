import ArgumentParser
import EHRCore
import Foundation

/// The one place where results are printed and errors become exit codes.
enum Output {
    /// Runs `body`; prints its result as JSON or as `text(result)`; maps any error to a one-line
    /// message on stderr (and a JSON error object on stdout with --json) and its exit code.
    static func run<T: Encodable>(json: Bool, _ body: () throws -> T, text: (T) -> String) throws {
        let result: T
        do {
            result = try body()
        } catch {
            let e = (error as? EHRError) ?? EHRError(.failure, "\(error)")
            printError(e, json: json)
            Alerts.fire(e)
            throw ExitCode(e.kind.exitCode)
        }
        if json {
            print(encode(result))
        } else {
            let rendered = text(result)
            if !rendered.isEmpty { print(rendered) }
        }
    }

    /// For a result that is itself a failure (verify found damage): print it, then exit non-zero.
    static func fail(_ error: EHRError, json: Bool) throws -> Never {
        if !json { printError(error, json: false) }
        Alerts.fire(error)
        throw ExitCode(error.kind.exitCode)
    }

    static func printError(_ e: EHRError, json: Bool) {
        // Whatever the report printed comes first, also when both streams go to one log file.
        fflush(nil) // all output streams
        FileHandle.standardError.write(Data("ehrdata: error: \(e.description)\n".utf8))
        if json {
            struct Body: Encodable { let error: Inner }
            struct Inner: Encodable { let kind: String; let exitCode: Int32; let message: String; let hint: String? }
            print(encode(Body(error: .init(kind: e.kind.rawValue, exitCode: e.kind.exitCode, message: e.message, hint: e.hint))))
        }
    }

    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Left-aligned columns for terminal tables.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
