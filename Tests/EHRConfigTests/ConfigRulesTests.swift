import EHRConfig
import EHRCore
import Testing

@Suite struct ConfigRulesTests {
    let head = """
        archive: /srv/archive
        sources:
          - name: backend
            kind: sqlite
            path: /data/backend.sqlite
          - name: fhir
            kind: postgres
            connection: "dbname=fhir"

        """

    func parse(_ text: String) throws -> Configuration {
        try ConfigParser.parse(head + text, origin: "test.yaml", baseDirectory: "/etc/ehrdata")
    }

    func failure(_ text: String) -> EHRError? {
        do { _ = try parse(text); return nil } catch let e as EHRError { return e } catch { return nil }
    }

    @Test func rulesCheckAndDrillKeys() throws {
        let c = try parse("""
            rules:
              - name: appointment-patients-exist
                kind: keys
                each:      { source: backend, query: "SELECT fhir_patient_id FROM appointment" }
                exists_in: { source: fhir,    query: "SELECT id FROM patient" }
              - name: encounters-match
                kind: count
                left:  { source: backend, query: "SELECT count(*) FROM visit" }
                right: { source: fhir,    query: "SELECT count(*) FROM encounter" }
                tolerance: 2
            check:
              statement_timeout: 5m
            drill:
              connection: "host=scratch dbname=postgres"
              scratch_dir: scratch
            """)
        #expect(c.rules.count == 2)
        #expect(c.rules[0] == Rule(name: "appointment-patients-exist", kind: .keys,
                                   first: .init(source: "backend", query: "SELECT fhir_patient_id FROM appointment"),
                                   second: .init(source: "fhir", query: "SELECT id FROM patient")))
        #expect(c.rules[1].kind == .count && c.rules[1].tolerance == 2)
        #expect(c.check.statementTimeout == 300)
        #expect(c.drill.connection == "host=scratch dbname=postgres")
        #expect(c.drill.scratchDirectory == "/etc/ehrdata/scratch")
    }

    @Test(arguments: [
        // (rule text, words the error names: the line and the key)
        ("rules:\n  - name: r\n    kind: keys\n    each: { source: billing, query: \"SELECT 1\" }\n    exists_in: { source: fhir, query: \"SELECT 1\" }\n",
         ["test.yaml:12", "billing", "not a configured source"]),
        ("rules:\n  - name: r\n    kind: keys\n    each: { source: backend, query: \"  ; \" }\n    exists_in: { source: fhir, query: \"SELECT 1\" }\n",
         ["test.yaml:12", "rules[0].each.query", "empty"]),
        ("rules:\n  - name: r\n    kind: keys\n    each: { source: backend, query: \"SELECT 1\", sql: x }\n    exists_in: { source: fhir, query: \"SELECT 1\" }\n",
         ["test.yaml:12", "unknown key 'rules[0].each.sql'"]),
        ("rules:\n  - name: r\n    kind: keys\n    each: { source: backend, query: \"SELECT 1\" }\n    exists_in: { source: fhir, query: \"SELECT 1\" }\n    tolerance: 3\n",
         ["test.yaml:14", "not for a keys rule"]),
        ("rules:\n  - name: r\n    kind: sum\n", ["test.yaml:11", "'sum'"]),
        ("rules:\n  - name: r\n    kind: count\n    left: { source: backend, query: \"SELECT 1\" }\n",
         ["missing required key 'rules[0].right'"]),
        ("check:\n  statement_timeout: soon\n", ["test.yaml:10", "not a duration"]),
        ("drill:\n  scratch: /tmp\n", ["test.yaml:10", "unknown key 'drill.scratch'"]),
    ])
    func badRulesNameTheLine(_ text: String, _ words: [String]) throws {
        let e = try #require(failure(text), "accepted: \(text)")
        #expect(e.kind == .configuration)
        #expect(e.hint != nil)
        for word in words { #expect(e.message.contains(word), "\(e.message) lacks \(word)") }
    }

    @Test func twoRulesOfOneName() throws {
        let side = "each: { source: backend, query: \"SELECT 1\" }\n    exists_in: { source: fhir, query: \"SELECT 1\" }"
        let e = try #require(failure("rules:\n  - name: r\n    kind: keys\n    \(side)\n  - name: r\n    kind: keys\n    \(side)\n"))
        #expect(e.message.contains("used twice"))
    }
}
