import EHRArchive
import EHRCore
import EHRPostgres
import Foundation

/// Spreading one big table over every connection, for loading and for verifying: with the
/// default one-table-per-connection, the largest table alone sets the restore's length.
extension PostgresRestore {
    /// Tables whose COPY text is at least this big are split. Tests lower it with
    /// `EHRDATA_TEST_SPLIT_BYTES` so that small fixtures take this path too.
    static let splitThreshold: Int64 = ProcessInfo.processInfo.environment["EHRDATA_TEST_SPLIT_BYTES"]
        .flatMap { Int64($0) } ?? 64 << 20

    static func copyFrom(_ table: Manifest.PostgresTable) -> String {
        let columns = table.columns.map(PostgresConnection.identifier).joined(separator: ", ")
        return "COPY \(PostgresConnection.qualified(table.schema, table.name)) (\(columns)) FROM STDIN"
    }

    /// Loads one table over `jobs` connections at once. COPY text ends every row with a newline
    /// (newlines inside values are escaped), so the stream is cut at newlines into chunks that
    /// the connections take in turn. Row order in the heap differs; content does not.
    func loadSplit(_ table: Manifest.PostgresTable, from file: Manifest.File) throws {
        // One inflating thread and one chunk per loader in the queue keep memory flat; the
        // server's parsing, not inflating, is what the loaders wait for.
        let queue = ChunkQueue(capacity: options.jobs)
        let reader = try DataFileReader(path: archive.snapshotDirectory(snapshot) + "/" + file.path, entry: file, workers: 1)
        // Job 0 reads and cuts the stream; jobs 1…n each run one COPY fed from the queue. A
        // failure on either side closes the queue with it, which ends the others (a loader's
        // COPY is then aborted, so no half-loaded table looks complete).
        _ = try ParallelJobs.run(count: options.jobs + 1, workers: options.jobs + 1, makeState: { () }, job: { _, index in
            do {
                if index == 0 {
                    var pending: [UInt8] = []
                    try reader.read { bytes in
                        pending.append(contentsOf: bytes)
                        guard pending.count >= 1 << 20, let cut = pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
                        try queue.push(Array(pending[...cut]))
                        pending.removeSubrange(...cut)
                    }
                    if !pending.isEmpty { try queue.push(pending) }
                    queue.close(failing: nil)
                } else {
                    let db = try self.connect(to: self.work)
                    try PostgresSourceCapture.applySettings(self.info.copySettings, on: db)
                    try db.copyIn(Self.copyFrom(table)) { put in
                        while let chunk = try queue.pop() { try chunk.withUnsafeBytes { try put($0) } }
                    }
                }
            } catch {
                queue.close(failing: error)
                throw error
            }
        })
    }

    struct VerificationUnit {
        var table: Int
        var sql: String
    }

    /// One COPY per table, except big tables, which are read in `jobs` block ranges (TID range
    /// scans) whose digests add up to the table's.
    func verificationUnits() throws -> [VerificationUnit] {
        let db = try connect(to: work)
        var units: [VerificationUnit] = []
        for (index, table) in info.tables.enumerated() {
            let name = PostgresConnection.qualified(table.schema, table.name)
            let columns = table.columns.map(PostgresConnection.identifier).joined(separator: ", ")
            let file = source.files.first { $0.path == table.file }
            guard options.jobs > 1, (file?.uncompressed.size ?? 0) >= Self.splitThreshold else {
                units.append(.init(table: index, sql: "COPY \(name) (\(columns)) TO STDOUT"))
                continue
            }
            let blocks = Int(try db.value("SELECT pg_relation_size(\(db.literal(name))::regclass) / current_setting('block_size')::int") ?? "0") ?? 0
            let step = max(1, (blocks + options.jobs - 1) / options.jobs)
            for start in stride(from: 0, to: max(blocks, 1), by: step) {
                let upper = start + step >= blocks ? "" : " AND ctid < '(\(start + step),0)'::tid"
                units.append(.init(table: index, sql: """
                    COPY (SELECT \(columns) FROM \(name) WHERE ctid >= '(\(start),0)'::tid\(upper)) TO STDOUT
                    """))
            }
        }
        return units
    }
}

/// A bounded queue of byte chunks between one producer and several consumers.
/// `@unchecked Sendable`: every field is guarded by `condition`.
final class ChunkQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [[UInt8]] = []
    private var closed = false
    private var failure: Error?
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func push(_ chunk: [UInt8]) throws {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if let failure { throw failure }
        guard !closed else { return }
        items.append(chunk)
        condition.broadcast()
    }

    /// The next chunk; nil once closed and drained; throws if closed with a failure.
    func pop() throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if let failure { throw failure }
        guard !items.isEmpty else { return nil }
        condition.broadcast()
        return items.removeFirst()
    }

    func close(failing error: Error?) {
        condition.lock()
        if failure == nil, let error { failure = error }
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

