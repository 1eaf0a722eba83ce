import CZlib
import EHRCore

/// A zlib failure, with zlib's return code and message kept for diagnosis.
public struct GzipError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32
    public var zlibMessage: String?

    public var description: String {
        "gzip \(operation) failed (zlib code \(code)\(zlibMessage.map { ": \($0)" } ?? ""))"
    }

    /// libdeflate's failures (it has no message of its own): said as zlib's data error.
    init(operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.zlibMessage = message
    }

    init(_ operation: String, _ code: Int32, _ stream: z_stream) {
        self.operation = operation
        self.code = code
        self.zlibMessage = stream.msg.map { String(cString: $0) }
    }
}
