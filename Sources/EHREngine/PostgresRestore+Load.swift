import EHRArchive
import EHRCore
import EHRPostgres
import Foundation

/// Loading the rows: small tables one per connection, big ones spread over every connection
/// (with one table per connection, the largest alone would set the restore's length), bytea
/// tables as COPY BINARY.
extension PostgresRestore {
    /// Tables whose COPY text is at least this big are split. Tests lower it with
    /// `EHRDATA_TEST_SPLIT_BYTES` so that small fixtures take this path too.
    static let splitThreshold: Int64 = ProcessInfo.processInfo.environment["EHRDATA_TEST_SPLIT_BYTES"]
        .flatMap { Int64($0) } ?? 64 << 20

    /// Whether a table's file is loaded and checked over every connection rather than one.
    func isSplit(_ file: Manifest.File) -> Bool {
        options.jobs > 1 && file.uncompressed.size >= Self.splitThreshold
    }

    /// Rows are handed to the loaders in chunks of about this size.
    static let chunkBytes = 1 << 20

    /// A table's data file; the inflated stream is not hashed (see `checksUncompressedDigest`).
    func tableReader(_ file: Manifest.File, workers: Int = 1) throws -> DataFileReader {
        var reader = try DataFileReader(archive: archive, snapshot: snapshot, entry: file, workers: workers)
        reader.checksUncompressedDigest = false
        // Up to `jobs` small-table readers and the big-table reader run at once: one member per
        // worker, plus one being read, keeps the restore under 100 MB.
        reader.membersInFlight = workers == 1 ? 1 : workers + 1
        return reader
    }

    static func copyFrom(_ table: Manifest.PostgresTable, binary: Bool) -> String {
        let columns = table.columns.map(PostgresConnection.identifier).joined(separator: ", ")
        return "COPY \(PostgresConnection.qualified(table.schema, table.name)) (\(columns)) FROM STDIN\(binary ? " WITH (FORMAT binary)" : "")"
    }

    struct TableLoad {
        var table: Manifest.PostgresTable
        var file: Manifest.File
        /// Set when the table is sent as COPY BINARY (see CopyBinaryEncoder).
        var binary: [CopyBinaryEncoder.FieldType]?

        /// COPY text, or binary converted from it on the way.
        func send(_ bytes: UnsafeRawBufferPointer, _ encoder: inout CopyBinaryEncoder?,
                  _ put: (UnsafeRawBufferPointer) throws -> Void) throws {
            guard encoder != nil else { return try put(bytes) }
            try encoder!.feed(bytes, emit: put)
        }
    }

    /// Binary COPY pays off for tables with bytea columns (hex text is twice the bytes and parsed
    /// character by character); it is used when every column has a type the encoder writes and
    /// the snapshot's bytea text is hex.
    func binaryTypes(_ oids: [Int]) -> [CopyBinaryEncoder.FieldType]? {
        guard info.copySettings["bytea_output"] == "hex" else { return nil }
        let types = oids.compactMap(CopyBinaryEncoder.FieldType.init(oid:))
        guard types.count == oids.count, types.contains(.bytea) else { return nil }
        return types
    }

    /// Runs one COPY FROM for `load`, fed by `body`, in text or binary.
    func copy(_ load: TableLoad, on db: PostgresConnection,
              _ body: (_ send: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var encoder = load.binary.map(CopyBinaryEncoder.init(types:))
        do {
            try db.copyIn(Self.copyFrom(load.table, binary: encoder != nil)) { put in
                // `body` calls back into `put`; Swift asks for this to allow the capture.
                try withoutActuallyEscaping(put) { put in
                    try body { try load.send($0, &encoder, put) }
                    try encoder?.finish(emit: put)
                }
            }
        } catch let error as CopyBinaryEncoder.EncodingError {
            throw EHRError(.verificationFailed, "table \(load.table.schema).\(load.table.name): \(error)",
                           hint: "the snapshot's data is not the COPY text its manifest describes; use another snapshot")
        }
    }

    /// Loads every table over `jobs` connections. Small tables go one per connection; a table
    /// too big for one loader to keep up with the others is split by rows across all of them:
    /// COPY text ends every row with a newline (newlines inside values are escaped), so one
    /// thread inflates it and cuts the stream at newlines into chunks that the loaders take in
    /// turn. Each loader first takes small tables, largest first, then joins the big tables'
    /// streams one after the other, so the connections stay busy until the last chunk (a loader
    /// that arrives after a stream is drained sends an empty COPY). Row order in the heap
    /// differs from the source's; content does not.
    func load(_ loads: [TableLoad]) throws {
        let big = loads.filter { isSplit($0.file) }
        let small = loads.filter { !isSplit($0.file) }.sorted { $0.file.uncompressed.size > $1.file.uncompressed.size }
        // One producer fills the big tables' queues in turn, one chunk per loader each, which
        // keeps memory flat.
        let queues = big.map { _ in ChunkQueue(capacity: options.jobs) }
        let nextSmall = SharedCounter()
        func failAll(_ error: Error) {
            for queue in queues { queue.close(failing: error) }
            nextSmall.stop()
        }
        let producers = big.isEmpty ? 0 : 1
        _ = try ParallelJobs.run(count: options.jobs + producers, workers: options.jobs + producers, makeState: { () },
                                 job: { _, index in
            do {
                if index < producers {
                    for (load, queue) in zip(big, queues) { try self.cut(load.file, into: queue) }
                    return
                }
                let db = try self.connect(to: self.work)
                try PostgresSourceCapture.applySettings(self.info.copySettings, on: db)
                while let next = nextSmall.take(below: small.count) {
                    let reader = try self.tableReader(small[next].file)
                    try self.copy(small[next], on: db) { send in try reader.read { try send($0) } }
                }
                for (load, queue) in zip(big, queues) {
                    try self.copy(load, on: db) { send in
                        while let chunk = try queue.pop() { try chunk.withUnsafeBytes { try send($0) } }
                    }
                }
            } catch {
                // Ends the others: a loader's COPY is then aborted, so no half-loaded table
                // looks complete.
                failAll(error)
                throw error
            }
        })
    }

    /// Inflates a big table's data file (on every core) into `queue`, in chunks of about
    /// `chunkBytes` that end at row ends.
    private func cut(_ file: Manifest.File, into queue: ChunkQueue) throws {
        let reader = try tableReader(file, workers: options.jobs)
        var pending: [UInt8] = []
        pending.reserveCapacity(Self.chunkBytes)
        func push() throws {
            try queue.push(pending)
            pending = []
            pending.reserveCapacity(Self.chunkBytes)
        }
        try reader.read { bytes in
            var offset = 0
            while offset < bytes.count {
                let limit = min(bytes.count, offset + max(0, Self.chunkBytes - pending.count))
                // Full: cut after the last row end that fits (or after an overlong row). Otherwise
                // the rest waits for the next piece, where its last row continues.
                guard limit < bytes.count, let end = bytes[offset..<limit].lastIndex(of: UInt8(ascii: "\n"))
                        ?? bytes[limit...].firstIndex(of: UInt8(ascii: "\n")) else {
                    pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                    break
                }
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...end]))
                try push()
                offset = end + 1
            }
        }
        if !pending.isEmpty { try push() }
        queue.close(failing: nil)
    }
}
