import CLibPQ

/// COPY in both directions through libpq, streamed: one row (out) or one chunk (in) at a time.
extension PostgresConnection {
    /// Runs `COPY … TO STDOUT` and hands every row (COPY text, with its newline) to `row`.
    /// Returns the number of rows.
    @discardableResult
    public func copyOut(_ sql: String, row: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        let start = PQexec(handle, sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_OUT else {
            _ = try PostgresResult(start, connection: handle, context: "starting COPY")
            throw PostgresError(message: "COPY did not start", context: "starting COPY")
        }
        PQclear(start)
        var rows: Int64 = 0
        var failure: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(handle, &buffer, 0)
            if n > 0, let buffer {
                defer { PQfreemem(buffer) }
                // Keep draining after a sink error so the connection stays usable.
                if failure == nil {
                    do { try row(UnsafeRawBufferPointer(start: buffer, count: Int(n))) } catch { failure = error }
                }
                rows += 1
            } else if n == -1 {
                break
            } else {
                throw PostgresError(libpq: handle, context: "reading COPY data")
            }
        }
        try finishCommand(context: "finishing COPY")
        if let failure { throw failure }
        return rows
    }

    /// Runs `COPY … FROM STDIN`; `body` sends the data through the function it is given.
    public func copyIn(_ sql: String, body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let start = PQexec(handle, sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try PostgresResult(start, connection: handle, context: "starting COPY")
            throw PostgresError(message: "COPY did not start", context: "starting COPY")
        }
        PQclear(start)
        do {
            try body { bytes in
                guard PQputCopyData(handle, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count)) == 1 else {
                    throw PostgresError(libpq: handle, context: "sending COPY data")
                }
            }
        } catch {
            PQputCopyEnd(handle, "ehrdata: input failed")
            try? finishCommand(context: "aborting COPY")
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(libpq: handle, context: "ending COPY")
        }
        try finishCommand(context: "finishing COPY")
    }

    /// Collects the results that follow a COPY; throws the first error among them.
    private func finishCommand(context: String) throws {
        var firstError: Error?
        while let result = PQgetResult(handle) {
            do { _ = try PostgresResult(result, connection: handle, context: context) } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }
}
