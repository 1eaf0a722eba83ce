#if canImport(Glibc)
import Glibc
#endif
import EHRArchive
import EHRCore
import EHRSQLite
import Foundation

/// `--on-mismatch reject`: the rows whose values do not fit, one JSON object per line, written
/// whole so they can be fixed and loaded by hand. It holds patient data: mode 0600, never
/// printed, only its path and counts are.
///
/// `{"table": …, "row": rowid or position, "column": the first value that does not fit,
///   "problem": …, "values": {column: value}}`; a value is JSON null, a number (an integer's
///   exact digits, a REAL's shortest exact text, "Infinity"), a string, or {"hex": …} for a BLOB
///   and for text that is not valid UTF-8.
final class RejectFile: @unchecked Sendable { // `lock` guards the descriptor and counts
    let path: String
    private let lock = NSLock()
    private var fd: Int32 = -1
    private(set) var rows: [String: Int64] = [:]

    init(path: String) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    func write(table: MigrationPlan.Table, column failedColumn: Int, problem: String, position: Int64,
               statement: SQLiteStatement, offset: Int32) throws {
        var values: [String] = []
        for (c, column) in table.columns.enumerated() {
            values.append(Self.json(column.name) + ":" + Self.json(statement.value(at: Int32(c) + offset)))
        }
        let column = table.columns[failedColumn]
        let line = "{\"table\":\(Self.json(table.info.name)),\"row\":\(position),\"column\":\(Self.json(column.name)),\"problem\":\(Self.json(problem)),\"values\":{\(values.joined(separator: ","))}}\n"
        try lock.withLock {
            if fd < 0 {
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else {
                    throw EHRError(.failure, "cannot create the reject file \(path): \(String(cString: strerror(errno)))",
                                   hint: "give --report a writable directory, or remove the file")
                }
            }
            let bytes = Array(line.utf8)
            guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
                throw EHRError(.failure, "cannot write the reject file \(path): \(String(cString: strerror(errno)))")
            }
            rows[table.info.name, default: 0] += 1
        }
    }

    /// Makes the rows durable before the report names the file.
    func finish() throws {
        try lock.withLock {
            guard fd >= 0 else { return }
            guard fsync(fd) == 0 else { throw EHRError(.failure, "cannot write the reject file \(path)") }
        }
    }

    static func json(_ value: SQLiteValue) -> String {
        switch value {
        case .null: return "null"
        case .integer(let v): return String(v)
        case .real(let v): return v.isFinite ? v.exactText : json(v.exactText)
        case .text(let b):
            guard UTF8Check.scan(b).valid else { return "{\"hex\":\"\(hex(b))\"}" }
            return json(String(decoding: b, as: UTF8.self))
        case .blob(let b): return "{\"hex\":\"\(hex(b))\"}"
        }
    }

    static func hex(_ b: UnsafeRawBufferPointer) -> String {
        var out = [UInt8]()
        out.reserveCapacity(b.count * 2)
        for byte in b { out.append(HexDigits.lowercase[Int(byte >> 4)]); out.append(HexDigits.lowercase[Int(byte & 0x0F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// Counters the command's progress line reads; the workers add to them.
public final class MigrationProgress: @unchecked Sendable { // `lock` guards every field
    private let lock = NSLock()
    private var _phase = "starting", _rows: Int64 = 0, _parts = 0, _totalParts = 0, _totalRows: Int64 = 0

    public init() {}

    public var snapshot: (phase: String, rows: Int64, totalRows: Int64, parts: Int, totalParts: Int) {
        lock.withLock { (_phase, _rows, _totalRows, _parts, _totalParts) }
    }

    func begin(_ phase: String, parts: Int = 0, rows: Int64 = 0) {
        lock.withLock { _phase = phase; _parts = 0; _totalParts = parts; _rows = 0; _totalRows = rows }
    }

    func add(rows: Int) { lock.withLock { _rows += Int64(rows) } }
    func finishedPart() { lock.withLock { _parts += 1 } }
}
