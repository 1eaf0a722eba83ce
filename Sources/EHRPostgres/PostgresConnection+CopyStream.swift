import CLibPQ

extension PostgresConnection {
    /// `COPY … TO STDOUT` read one row at a time by the caller (a pull, where `copyOut` pushes):
    /// what lets `check` merge two sorted streams with one row of each in memory. The query is
    /// only sent here (PQsendQuery): the server sorts while the caller prepares the other side;
    /// the first `next()` waits for the COPY to start and throws the query's error, if any.
    public func copyOutStream(_ sql: String) throws -> CopyOutStream {
        guard PQsendQuery(handle, sql) == 1 else { throw PostgresError(libpq: handle, context: "starting COPY") }
        return CopyOutStream(connection: self)
    }
}

/// One COPY out in progress. Not Sendable: it belongs to its connection's thread.
public final class CopyOutStream {
    let connection: PostgresConnection
    private var buffer: UnsafeMutablePointer<CChar>?
    private var started = false
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
        if !started { try start() }
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

    /// Waits for the query's first result: COPY_OUT, or the error that stopped it.
    private func start() throws {
        started = true
        let first = PQgetResult(connection.handle)
        guard let first, PQresultStatus(first) == PGRES_COPY_OUT else {
            done = true
            var failure: Error?
            do { _ = try PostgresResult(first, connection: connection.handle, context: "starting COPY") } catch { failure = error }
            while let more = PQgetResult(connection.handle) { PQclear(more) }
            throw failure ?? PostgresError(message: "COPY did not start", context: "starting COPY")
        }
        PQclear(first)
    }

    private func finish(draining: Bool) throws {
        if !started {
            do { try start() } catch { return }
        }
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
