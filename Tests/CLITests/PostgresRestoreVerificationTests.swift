import EHRTestSupport
import Foundation
import Testing

/// The check a PostgreSQL restore ends with is not a formality: a row changed in the loaded
/// database between the load and the check fails the restore with exit 65, and the database the
/// restore created is dropped. One change per path: a bytea value (read back as its SHA-256,
/// computed by the server), text in a table sent as COPY BINARY, text in a table sent as COPY
/// text, a missing row.
@Suite struct PostgresRestoreVerificationTests {
    @Test(arguments: [
        "UPDATE documents SET content = content || '\\x00'::bytea WHERE id = 7",
        "UPDATE documents SET title = 'doc 8 ' WHERE id = 8",
        "UPDATE notes SET body = body || ' ' WHERE id = 9",
        "DELETE FROM notes WHERE id = 10",
    ])
    func aChangeBeforeTheCheckFailsTheRestore(change: String) throws {
        let pg = try PGServer()
        let dbs = PGDatabases(pg)
        defer { dbs.drop() }
        let source = try dbs.create("checked")
        try pg.script(source, """
            CREATE TABLE documents (id int PRIMARY KEY, title text, content bytea);
            INSERT INTO documents SELECT g, 'doc ' || g, decode(repeat(lpad(to_hex(g), 2, '0'), 100), 'hex')
                FROM generate_series(1, 50) g;
            CREATE TABLE notes (id int PRIMARY KEY, body text);
            INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g;
            """)
        let ws = try Workspace()
        try ws.configure(postgres: pg.connection(source), withSQLite: false)
        let backup = try ws.run(["backup"])
        try #require(backup.status == 0, "backup failed: \(backup.stderr)")

        let target = dbs.name("restored")
        let restore = try Background(["restore", "latest", "--source", "fhir", "--to-database", target], config: ws.config,
                                     environment: ["EHRDATA_TEST_PAUSE_AT": "postgres-before-verify"])
        defer { restore.killIfRunning() }
        try requirePaused(restore, at: "postgres-before-verify")
        // The load itself was faithful: before the change, the rows agree (indexes and
        // constraints are built after this point, while the rows are checked).
        #expect(try pg.tableDigests(source) == pg.tableDigests(target))
        try pg.script(target, change)
        restore.resume()
        let result = restore.finish()

        #expect(result.status == 65, "restore exited \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("does not match the snapshot"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("doc 8") && !result.stderr.contains("note 9"), "row content in the error")
        #expect(try !pg.exists(database: target), "the failed restore left its database behind")
    }
}
