import EHRConfig
import EHRCore
import Testing

@Suite struct ConfigParserTests {
    let valid = """
        archive: /srv/archive
        sources:
          - name: backend
            kind: sqlite
            path: data/backend.sqlite
          - name: fhir
            kind: postgres
            connection: "host=127.0.0.1 dbname=fhir"
        retention:
          keep_last: 7
          keep_daily: 14
        compression:
          level: 3
        """

    func parse(_ text: String) throws -> Configuration {
        try ConfigParser.parse(text, origin: "test.yaml", baseDirectory: "/etc/ehrdata")
    }

    /// Parses `text` expecting a configuration error; returns its message.
    func failure(_ text: String) -> String {
        do {
            _ = try parse(text)
            Issue.record("accepted an invalid config")
            return ""
        } catch let e as EHRError {
            #expect(e.kind == .configuration)
            #expect(e.hint != nil)
            #expect(!e.description.contains("\n"))
            return e.description
        } catch {
            Issue.record("unexpected error \(error)")
            return ""
        }
    }

    @Test func validConfigParses() throws {
        let c = try parse(valid)
        #expect(c.archive == "/srv/archive")
        #expect(c.sources.count == 2)
        #expect(c.sources[0] == SourceConfig(name: "backend", kind: .sqlite, path: "/etc/ehrdata/data/backend.sqlite",
                                            pathAsWritten: "data/backend.sqlite"))
        #expect(c.sources[1].connection == "host=127.0.0.1 dbname=fhir")
        #expect(c.retention == Retention(keepLast: 7, keepDaily: 14))
        #expect(c.compression.level == 3)
    }

    @Test func retentionAndMetricsKeys() throws {
        let text = valid.replacingOccurrences(of: "  keep_daily: 14", with: """
              keep_daily: 14
              keep_hourly: 24
              keep_yearly: 3
              keep_within: 36h
              time_zone: Europe/Berlin
            metrics:
              textfile: metrics/ehrdata.prom
            """)
        let c = try parse(text)
        #expect(c.retention.keepHourly == 24 && c.retention.keepYearly == 3)
        #expect(c.retention.keepWithin == RetentionWithin("36h"))
        #expect(c.retention.timeZone == "Europe/Berlin")
        #expect(c.metrics.textfile == "/etc/ehrdata/metrics/ehrdata.prom")
        #expect(failure(valid.replacingOccurrences(of: "keep_daily: 14", with: "keep_within: a fortnight"))
            .contains("test.yaml:11: key 'retention.keep_within' is 'a fortnight', not a duration"))
        #expect(failure(valid.replacingOccurrences(of: "keep_daily: 14", with: "time_zone: Mars/Olympus"))
            .contains("key 'retention.time_zone' is 'Mars/Olympus'"))
        #expect(failure(valid + "\nmetrics:\n  textfil: x").contains("did you mean 'metrics.textfile'"))
        #expect(failure(valid.replacingOccurrences(of: "keep_daily: 14", with: "keep_yearly: -1")).contains("must not be negative"))
    }

    @Test func misspelledKeyIsRejectedWithLineAndSuggestion() {
        let text = valid.replacingOccurrences(of: "keep_daily", with: "keep_dialy")
        let message = failure(text)
        #expect(message.contains("unknown key 'retention.keep_dialy'"))
        #expect(message.contains("test.yaml:11"))
        #expect(message.contains("did you mean 'retention.keep_daily'"))
    }

    @Test func misspelledTopLevelAndSourceKeys() {
        #expect(failure(valid.replacingOccurrences(of: "archive:", with: "archve:")).contains("'archve'"))
        #expect(failure(valid.replacingOccurrences(of: "    path:", with: "    pth:")).contains("sources[0].pth"))
    }

    @Test func wrongTypesAreRejected() {
        #expect(failure(valid.replacingOccurrences(of: "level: 3", with: "level: fast"))
            .contains("'compression.level' must be a whole number"))
        #expect(failure(valid.replacingOccurrences(of: "keep_last: 7", with: "keep_last: [7]"))
            .contains("'retention.keep_last' must be a whole number, found a list"))
        #expect(failure(valid.replacingOccurrences(of: "archive: /srv/archive", with: "archive:\n  x: 1"))
            .contains("'archive' must be a string"))
        #expect(failure(valid.replacingOccurrences(of: "level: 3", with: "level: 12")).contains("1 to 9"))
        #expect(failure(valid.replacingOccurrences(of: "keep_last: 7", with: "keep_last: -1")).contains("negative"))
    }

    @Test func codecAndLevelRanges() throws {
        let zstd = try parse(valid.replacingOccurrences(of: "  level: 3", with: "  codec: zstd\n  level: 19"))
        #expect(zstd.compression == Compression(codec: .zstd, level: 19))
        #expect(try parse(valid.replacingOccurrences(of: "  level: 3", with: "  codec: zstd")).compression.level == 3)
        #expect(try parse(valid.replacingOccurrences(of: "  level: 3", with: "  codec: gzip")).compression.level == 6)
        #expect(failure(valid.replacingOccurrences(of: "  level: 3", with: "  codec: lz4")).contains("'lz4'"))
        #expect(failure(valid.replacingOccurrences(of: "  level: 3", with: "  codec: zstd\n  level: 20")).contains("1 to 19 for zstd"))
    }

    @Test func missingRequiredKeysAreRejected() {
        #expect(failure("sources: []\n").contains("missing required key 'archive'"))
        #expect(failure("archive: /a\n").contains("missing required key 'sources'"))
        #expect(failure("archive: /a\nsources:\n  - name: x\n    kind: sqlite\n").contains("'sources[0].path'"))
        #expect(failure("archive: /a\nsources: []\n").contains("lists no source"))
    }

    @Test func otherMistakes() {
        #expect(failure(valid.replacingOccurrences(of: "kind: postgres", with: "kind: mysql")).contains("'mysql'"))
        #expect(failure(valid.replacingOccurrences(of: "name: fhir", with: "name: backend")).contains("used twice"))
        #expect(failure(valid.replacingOccurrences(of: "name: fhir", with: "name: ../x")).contains("not allowed"))
        #expect(failure("archive: /a\narchive: /b\nsources: []\n").contains("duplicated key(s): 'archive'"))
        #expect(failure("archive: [unclosed\n").contains("not valid YAML"))
        #expect(failure("").contains("empty"))
        #expect(failure("- a\n- b\n").contains("mapping"))
        #expect(failure(valid.replacingOccurrences(of: "    path: data/backend.sqlite",
                                                   with: "    path: data/backend.sqlite\n    connection: x"))
            .contains("for postgres sources"))
    }
}
