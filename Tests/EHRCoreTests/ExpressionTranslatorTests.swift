import EHRCore
import Testing

@Suite struct SQLTokenizerTests {
    @Test func quotedNamesStringsBlobsNumbersAndComments() throws {
        let tokens = try SQLTokenizer.tokens(#"""
            "a ""b""" [c d] `e` 'it''s' x'0aFF' 1.5e-3 .5 -- a comment
            /* another */ a||b <= c == d
            """#)
        #expect(tokens == [
            SQLToken(.quoted, "a \"b\""), SQLToken(.quoted, "c d"), SQLToken(.quoted, "e"), SQLToken(.string, "it's"),
            SQLToken(.blob, "0aFF"), SQLToken(.number, "1.5e-3"), SQLToken(.number, ".5"),
            SQLToken(.word, "a"), SQLToken(.symbol, "||"), SQLToken(.word, "b"), SQLToken(.symbol, "<="), SQLToken(.word, "c"),
            SQLToken(.symbol, "=="), SQLToken(.word, "d"),
        ])
    }

    @Test func anUnclosedQuoteIsRefused() {
        #expect(throws: SQLTokenizer.Unreadable.self) { try SQLTokenizer.tokens("'open") }
        #expect(throws: SQLTokenizer.Unreadable.self) { try SQLTokenizer.tokens("[open") }
    }

    @Test func generatedExpressionsAreFoundPerColumn() {
        let sql = """
            CREATE TABLE "t" (id INTEGER PRIMARY KEY, a INTEGER CHECK (CAST(a AS TEXT) <> ''),
              "b c" INTEGER GENERATED ALWAYS AS (a * 2) STORED, d TEXT AS (upper(cast(a AS TEXT)) || 'x') VIRTUAL,
              e TEXT DEFAULT ('AS'), CONSTRAINT k UNIQUE (a))
            """
        let found = SQLiteTableSQL.generatedExpressions(sql)
        #expect(Set(found.keys) == ["b c", "d"])
        #expect(found["b c"]?.map(\.text) == ["a", "*", "2"])
        #expect(found["d"]?.count == 11)
    }
}

@Suite struct ExpressionTranslatorTests {
    let translator = ExpressionTranslator(columns: ["a": "\"a\"", "B c": "\"B c\"", "price": "\"price\""])

    @Test(arguments: [
        ("a * 2", "\"a\" * 2"),
        ("A + \"b C\"", "\"a\" + \"B c\""),
        ("[price] * 1.5", "\"price\" * 1.5::double precision"),
        ("a / 4", "\"a\" / 4"),
        ("a == 1 AND a != 2 OR NOT a <> 3", "\"a\" = 1 AND \"a\" != 2 OR NOT \"a\" <> 3"),
        ("a IS NULL", "\"a\" IS NULL"),
        ("a IS NOT NULL", "\"a\" IS NOT NULL"),
        ("a IS price", "\"a\" IS NOT DISTINCT FROM \"price\""),
        ("a IS NOT price", "\"a\" IS DISTINCT FROM \"price\""),
        ("CASE WHEN a > 0 THEN 'pos' ELSE 'it''s' END", "CASE WHEN \"a\" > 0 THEN 'pos' ELSE 'it''s' END"),
        ("upper(cast(a AS TEXT)) || 'x'",
         "translate(CAST(\"a\" AS text), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') || 'x'"),
        ("lower(price)", "translate(\"price\", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"),
        ("ifnull(a, 0) + abs(price)", "coalesce(\"a\" , 0) + abs(\"price\")"),
        ("trim(price)", "btrim(\"price\")"),
        ("CAST(price AS VARCHAR(10))", "CAST(\"price\" AS text)"),
        ("CAST(price AS REAL)", "CAST(\"price\" AS double precision)"),
        ("CAST(price AS DECIMAL(5,2))", "CAST(\"price\" AS numeric)"),
        ("x'00ff'", "'\\x00ff'::bytea"),
        ("a IN (1, 2) AND a BETWEEN 0 AND 9", "\"a\" IN ( 1 , 2 ) AND \"a\" BETWEEN 0 AND 9"),
    ])
    func translates(sqlite: String, postgres: String) throws {
        #expect(try translator.translate(sqlite) == postgres)
    }

    @Test(arguments: [
        ("a / price", "division"),
        ("a / 0", "division"),
        ("a % 3", "operator %"),
        ("printf('%d', a)", "printf()"),
        ("substr(price, 2)", "substr()"),
        ("\"nothing\" || a", "quoted name"),
        ("other + 1", "OTHER"),
        ("a LIKE 'x%'", "LIKE"),
        ("0x1F + a", "hexadecimal"),
        ("a + ?", "parameter"),
        ("json_extract(price, '$.a')", "json_extract()"),
        ("price -> 'a'", "operator ->"),
        ("", "empty"),
    ])
    func refuses(sqlite: String, reasonMentions: String) {
        do throws(ExpressionTranslator.Untranslatable) {
            let sql = try translator.translate(sqlite)
            Issue.record("translated \(sqlite) to \(sql)")
        } catch {
            #expect(error.reason.contains(reasonMentions), "reason: \(error.reason)")
        }
    }
}

@Suite struct ViewTranslationTests {
    static let tables: [String: ExpressionTranslator.Table] = [
        "customer": .init(sql: "\"s\".\"customer\"", columns: [
            "customer_id": .init(sql: "\"customer_id\"", isText: false), "first_name": .init(sql: "\"first_name\"", isText: true),
            "active": .init(sql: "\"active\"", isText: true), "address_id": .init(sql: "\"address_id\"", isText: false),
        ]),
        "address": .init(sql: "\"s\".\"address\"", columns: [
            "address_id": .init(sql: "\"address_id\"", isText: false), "city": .init(sql: "\"city\"", isText: true),
        ]),
    ]
    let translator = ExpressionTranslator(tables: tables)

    @Test func aJoinWithAliasesTextComparisonsAndResultNames() throws {
        let sql = try translator.translate("""
            SELECT cu.customer_id AS ID, cu.first_name||' '||City AS name,
                   case when cu.active=1 then 'active' else '' end AS notes
            FROM customer AS cu JOIN Address a ON cu.address_id = A.address_id WHERE a.city LIKE 'Lon%'
            """)
        #expect(sql == """
            SELECT "cu"."customer_id" AS "ID" , "cu"."first_name" || ' ' || "city" AS "name" , CASE WHEN "cu"."active" = '1' THEN 'active' ELSE '' END AS "notes" \
            FROM "s"."customer" AS "cu" JOIN "s"."address" AS "a" ON "cu"."address_id" = "a"."address_id" WHERE translate("a"."city", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE 'lon%' ESCAPE ''
            """)
    }

    @Test func aggregatesAndGrouping() throws {
        #expect(try translator.translate("SELECT city, count(*) AS n, max(address_id) FROM address GROUP BY city ORDER BY city DESC")
                == #"SELECT "city" , count(*) AS "n" , max("address_id") FROM "s"."address" AS "address" GROUP BY "city" ORDER BY "city" DESC"#)
    }

    @Test(arguments: [
        ("SELECT * FROM other", "other than a migrated table"),
        ("SELECT group_concat(city) FROM address", "group_concat()"),
        ("SELECT max(address_id, 3) FROM address", "several arguments"),
        ("SELECT address_id FROM customer JOIN address ON customer.address_id = address.address_id", "no single column"),
        ("SELECT city FROM (SELECT city FROM address)", "other than a migrated table"),
    ])
    func refuses(sql: String, reasonMentions: String) {
        do throws(ExpressionTranslator.Untranslatable) {
            let out = try translator.translate(sql)
            Issue.record("translated \(sql) to \(out)")
        } catch {
            #expect(error.reason.contains(reasonMentions), "reason: \(error.reason)")
        }
    }
}
