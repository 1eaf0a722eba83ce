import EHRPostgres
import Foundation
import Testing

/// These run against the real PostgreSQL server that scripts/test.sh starts. Without it they
/// fail: they never skip.
@Suite struct PostgresAdapterTests {
    var connectionString: String {
        get throws {
            try #require(ProcessInfo.processInfo.environment["EHRDATA_TEST_PG"],
                         "EHRDATA_TEST_PG is not set: run the suite with scripts/test.sh, which starts PostgreSQL")
        }
    }

    @Test func connectsAndRunsAQuery() throws {
        let db = try PostgresConnection(connectionString: try connectionString)
        #expect(db.serverVersion >= 150_000)
        let rows = try db.rows("SELECT 1 + 1, current_setting('server_encoding'), NULL::text")
        #expect(rows == [["2", "UTF8", nil]])
    }

    @Test func unicodeRoundTripsThroughTheServer() throws {
        let db = try PostgresConnection(connectionString: try connectionString)
        let text = "Zoë 李 مرحبا 👩‍⚕️ e\u{301}"
        let rows = try db.rows("SELECT '\(text)'::text, length('\(text)')")
        #expect(rows.first?.first ?? nil == text)
    }

    @Test func missingDatabaseFailsWithHint() throws {
        do {
            _ = try PostgresConnection(connectionString: try connectionString + " dbname=no_such_db_ehrdata")
            Issue.record("connected to a missing database")
        } catch let e as PostgresError {
            #expect(e.message.contains("no_such_db_ehrdata"))
            #expect(e.hint.contains("database name"))
        }
    }

    @Test func failedStatementCarriesSQLState() throws {
        let db = try PostgresConnection(connectionString: try connectionString)
        do {
            try db.execute("SELECT * FROM no_such_table_ehrdata")
            Issue.record("query on a missing table succeeded")
        } catch let e as PostgresError {
            #expect(e.sqlState == "42P01")
        }
        // The connection is still usable afterwards.
        #expect(try db.rows("SELECT 'ok'") == [["ok"]])
    }
}
