import CLibPQ
import Foundation

/// Turns what PostgreSQL and its tools say into text that names the problem without values.
///
/// A server error carries structured fields: the SQLSTATE, and for many errors the schema,
/// table, column, data type and constraint it concerns, which never hold row values. The
/// primary message, DETAIL and CONTEXT often do (`invalid input syntax for type integer: "…"`,
/// `Key (id)=(…) already exists`, `Failing row contains (…)`, `COPY t, line 3, column c: "…"`),
/// so only the primary messages of conditions whose wording names objects alone are kept, and
/// the CONTEXT only as far as the COPY line number. Free text (libpq's own messages, the stderr
/// of pg_dump and pg_restore) has no fields: a line is kept only if it matches a wording known
/// to hold no values; anything else is reduced to what was being done.
enum PostgresErrorText {
    /// Conditions whose primary message names objects or the connection, never values.
    static func primaryIsSafe(_ state: String) -> Bool {
        let safeClasses = ["08", "28", "3D", "3F", "40", "53", "55", "57", "58"]
        let safeCodes = ["42501", "42P01", "42704", "42883", "42P04", "42P06", "42P07", "42710", "0A000"]
        return safeClasses.contains(String(state.prefix(2))) || safeCodes.contains(state)
    }

    /// The value-free form of an error result, and the server's full first line.
    static func describe(result: OpaquePointer) -> (sqlState: String?, safe: String, full: String) {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let state = field("C")
        let severity = field("V") ?? field("S") ?? "ERROR"
        let primary = field("M") ?? ""
        // Errors raised by user code (PL/pgSQL RAISE, which may set every field below to
        // anything), and any error while a COPY row or a function was being read, may quote
        // a value in their wording: then only the SQLSTATE's name is kept.
        let context = field("W") ?? ""
        let raisedByUserCode = field("F") == "pl_exec.c" || field("R") == "exec_stmt_raise"
            || context.contains("PL/pgSQL function") || context.contains("SQL function")
        let whileReadingRows = context.split(separator: "\n").contains { $0.hasPrefix("COPY ") }
        var head: String
        if let state, primaryIsSafe(state), !primary.isEmpty, !raisedByUserCode, !whileReadingRows {
            head = "\(severity): \(primary) (SQLSTATE \(state))"
        } else if let state {
            head = "\(severity): \(SQLStateNames.byCode[state] ?? "error") (SQLSTATE \(state))"
        } else {
            head = "\(severity): an error without a SQLSTATE"
        }
        // The name fields are PostgreSQL's own, except in user code, where RAISE sets them freely.
        if !raisedByUserCode {
            var named: [String] = []
            if let table = field("t") { named.append("table " + [field("s"), table].compactMap { $0 }.joined(separator: ".")) }
            if let column = field("c") { named.append("column \(column)") }
            if let type = field("d") { named.append("type \(type)") }
            if let constraint = field("n") { named.append("constraint \(constraint)") }
            if !named.isEmpty { head += ", " + named.joined(separator: ", ") }
        }
        if let location = copyLocation(context) { head += "; \(location)" }
        let full = String(cString: PQresultErrorMessage(result))
        return (state, head, full)
    }

    /// `COPY t, line 3, column c` out of a CONTEXT such as `COPY t, line 3, column c: "…"`.
    static func copyLocation(_ context: String) -> String? {
        for line in context.split(separator: "\n") where line.hasPrefix("COPY ") {
            guard let match = line.range(of: #"^COPY .*?, line [0-9]+(, column [^:]*)?"#, options: .regularExpression) else {
                continue
            }
            return String(line[match])
        }
        return nil
    }

    /// Wordings of libpq and of pg_dump/pg_restore errors that hold no values.
    static let safeWordings: [String] = [
        #"^role "[^"]*" does not exist$"#,
        #"^permission denied for [a-z ]+ [^ ]+$"#,
        #"^(relation|schema|database|function|type|extension|table|index|sequence|view) "[^"]*" (does not exist|already exists)$"#,
        #"^connection to server .*"#,
        #"^could not connect to server.*"#,
        #"^could not translate host name .*"#,
        #"^server closed the connection unexpectedly$"#,
        #"^no connection to the server$"#,
        #"^terminating connection due to administrator command$"#,
        #"^canceling statement due to (lock|statement) timeout$"#,
        #"^could not obtain lock on relation "[^"]*"$"#,
        #"^could not create unique index "[^"]*"$"#,
        #"^could not create exclusion constraint "[^"]*"$"#,
        #"^insert or update on table "[^"]*" violates foreign key constraint "[^"]*"$"#,
        #"^conflicting key value violates exclusion constraint "[^"]*"$"#,
        #"^aborting because of server version mismatch$"#,
        #"^server version: [0-9.]+; pg_dump version: [0-9.]+$"#,
        #"^the database system is [a-z ]+$"#,
        #"^password authentication failed for user "[^"]*"$"#,
        #"^invalid snapshot identifier: "[0-9A-F-]+"$"#,
        #"^out of memory$"#,
        #"^SSL .*"#,
    ]

    /// The value-free form of one line of free text: kept if its core matches a safe wording,
    /// else only the tool's prefix with a note that the rest is withheld.
    static func reduce(freeText text: String) -> String {
        let line = (text.split(separator: "\n").first.map(String.init) ?? text).trimmingCharacters(in: .whitespaces)
        var core = Substring(line), prefix = ""
        for lead in ["pg_restore: error: ", "pg_dump: error: ", "pg_restore: ", "pg_dump: "] where core.hasPrefix(lead) {
            prefix += lead
            core = core.dropFirst(lead.count)
        }
        for lead in ["could not execute query: ", "query failed: ", "ERROR:  ", "ERROR: ", "FATAL:  ", "FATAL: "] where core.hasPrefix(lead) {
            prefix += lead
            core = core.dropFirst(lead.count)
        }
        let kept = safeWordings.contains { String(core).range(of: $0, options: .regularExpression) != nil }
        if kept { return line }
        let what = prefix.trimmingCharacters(in: CharacterSet(charactersIn: " :"))
        return (what.isEmpty ? "failed" : what) + " (PostgreSQL's text withheld: it may quote data)"
    }

    /// libpq's complaint about a connection string quotes the text it could not read, which may
    /// be a password: never shown, only mapped to a sentence of ours by its opening words.
    static func reduce(parseError text: String) -> String {
        let known: [(String, String)] = [
            ("missing \"=\" after", "a word without \"=\": a value with a space needs single quotes"),
            ("unterminated quoted string", "a quoted value without its closing quote"),
            ("invalid connection option", "an unknown keyword"),
            ("invalid percent-encoded token", "an invalid %-escape"),
            ("forbidden value %00", "an invalid %-escape"),
            ("invalid URI", "a malformed URI"),
            ("extra key/value separator", "a malformed URI query"),
            ("missing key/value separator", "a malformed URI query"),
            ("end of string reached when looking for matching", "an unclosed [ in the host"),
            ("unexpected spaces found", "spaces in a URI: percent-encode them (%20)"),
            ("invalid integer value", "a keyword whose value must be a number"),
        ]
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return known.first { line.hasPrefix($0.0) }?.1 ?? "text libpq cannot read"
    }
}
