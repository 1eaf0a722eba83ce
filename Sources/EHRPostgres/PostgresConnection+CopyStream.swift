import CLibPQ

extension PostgresConnection {
    /// `COPY … TO STDOUT` read one row at a time by the caller (a pull, where `copyOut` pushes):
    /// what lets `check` merge two sorted streams with one row of each in memory.
    public func copyOutStream(_ sql: String) throws -> CopyOutStream {
        let start = PQexec(handle, sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_OUT else {
            _ = try PostgresResult(start, connection: handle, context: "starting COPY")
            throw PostgresError(message: "COPY did not start", context: "starting COPY")
        }
        PQclear(start)
        return CopyOutStream(connection: self)
    }
}

/// One COPY out in progress. Not Sendable: it belongs to its connection's thread.
public final class CopyOutStream {
    let connection: PostgresConnection
    private var buffer: UnsafeMutablePointer<CChar>?
    private var done = false

    init(connection: PostgresConnection) { self.connection = connection }

    deinit {
        if let buffer { PQfreemem(buffer) }
        // Drain what is left so the connection stays usable (a merge may stop early).
        if !done { try? finish(draining: true) }
    }

    /// The next row (COPY text with its newline), valid until the next call; nil at the end.
    public func next() throws -> UnsafeRawBufferPointer? {
        if let buffer { PQfreemem(buffer); self.buffer = nil }
        guard !done else { return nil }
        var out: UnsafeMutablePointer<CChar>?
        let n = PQgetCopyData(connection.handle, &out, 0)
        if n > 0, let out {
            buffer = out
            return UnsafeRawBufferPointer(start: out, count: Int(n))
        }
        if n == -1 {
            try finish(draining: false)
            return nil
        }
        done = true
        throw PostgresError(libpq: connection.handle, context: "reading COPY data")
    }

    private func finish(draining: Bool) throws {
        if draining {
            var out: UnsafeMutablePointer<CChar>?
            while PQgetCopyData(connection.handle, &out, 0) > 0 { if let p = out { PQfreemem(p) }; out = nil }
        }
        done = true
        var firstError: Error?
        while let result = PQgetResult(connection.handle) {
            do { _ = try PostgresResult(result, connection: connection.handle, context: "finishing COPY") } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }
}
