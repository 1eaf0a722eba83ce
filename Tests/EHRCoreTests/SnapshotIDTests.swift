import EHRCore
import Foundation
import Testing

@Suite struct SnapshotIDTests {
    @Test func formatEncodesUTCTimeToTheMillisecond() throws {
        let date = Date(timeIntervalSince1970: 1_795_944_607.123) // 2026-11-29T09:30:07.123Z
        let id = SnapshotID.make(at: date, suffix: 0x3fa9)
        #expect(id.rawValue == "20261129T093007.123Z-3fa9")
        #expect(SnapshotID(id.rawValue) == id)
        let decoded = try #require(id.date)
        #expect(abs(decoded.timeIntervalSince1970 - 1_795_944_607.123) < 0.001)
    }

    @Test func idsSortByTime() {
        let base = Date(timeIntervalSince1970: 1_795_944_607)
        let ids = [0.0, 0.001, 0.5, 1, 59, 3600, 86_400 * 40].map {
            SnapshotID.make(at: base.addingTimeInterval($0), suffix: UInt16.random(in: 0 ... .max))
        }
        #expect(ids.sorted() == ids)
        #expect(ids.map(\.rawValue).sorted() == ids.map(\.rawValue))
    }

    @Test func twoBackupsInTheSameSecondGetDistinctIds() {
        let date = Date(timeIntervalSince1970: 1_795_944_607.5)
        let ids = Set((0..<200).map { _ in SnapshotID.make(at: date) })
        // 16 random bits: 200 draws collide with probability ~0.3; the archive also retries on a
        // taken id. The ids that differ must still share the time prefix.
        #expect(ids.count > 150)
        #expect(Set(ids.map { $0.rawValue.prefix(20) }).count == 1)
    }

    @Test(arguments: ["", "latest", "20261129T093007.123Z", "20261129T093007.123Z-3FA9", "20261129T093007.123Z-3fa",
                      "20261129T093007Z-3fa9", "2026112XT093007.123Z-3fa9", "../../etc/passwd"])
    func malformedIdsAreRejected(_ text: String) {
        #expect(SnapshotID(text) == nil)
    }

    @Test func selectorResolvesLatestPrefixAndRejectsUnknownOrAmbiguous() throws {
        let a = SnapshotID("20261128T010000.000Z-aaaa")!
        let b = SnapshotID("20261129T010000.000Z-bbbb")!
        let c = SnapshotID("20261129T020000.000Z-cccc")!
        let ids = [a, b, c]
        #expect(try SnapshotSelector("latest").resolve(in: ids) == c)
        #expect(try SnapshotSelector("20261128").resolve(in: ids) == a)
        #expect(try SnapshotSelector(c.rawValue).resolve(in: ids) == c)
        #expect(throws: EHRError.self) { try SnapshotSelector("20261129").resolve(in: ids) }
        do {
            _ = try SnapshotSelector("2025").resolve(in: ids)
            Issue.record("expected not found")
        } catch let e as EHRError {
            #expect(e.kind == .notFound)
            #expect(e.message.contains("2025"))
        }
        do {
            _ = try SnapshotSelector("latest").resolve(in: [])
            Issue.record("expected not found")
        } catch let e as EHRError {
            #expect(e.kind == .notFound)
        }
    }
}

@Suite struct FormatVersionTests {
    @Test func newerVersionIsRefusedNotMisread() throws {
        let json = #"{"format":"ehrdata-manifest","version":2,"whatever":[]}"#
        let header = try JSONDecoder().decode(FormatHeader.self, from: Data(json.utf8))
        do {
            try header.check(expected: ArchiveFormat.manifestFormat, what: "snapshot x")
            Issue.record("version 2 was accepted")
        } catch let e as EHRError {
            #expect(e.kind == .unsupportedFormat)
            #expect(e.message.contains("version 2"))
            #expect(e.hint?.contains("upgrade") == true)
        }
    }

    /// Manifests may be version 2 (hashed bytea columns); archive markers are still version 1.
    @Test func manifestVersionTwoIsReadAndThreeRefused() throws {
        let two = FormatHeader(format: ArchiveFormat.manifestFormat, version: 2)
        try two.check(expected: ArchiveFormat.manifestFormat, what: "snapshot x", newest: ArchiveFormat.manifestVersion)
        let three = FormatHeader(format: ArchiveFormat.manifestFormat, version: 3)
        #expect(throws: EHRError.self) {
            try three.check(expected: ArchiveFormat.manifestFormat, what: "snapshot x", newest: ArchiveFormat.manifestVersion)
        }
        let marker = FormatHeader(format: ArchiveFormat.markerFormat, version: 2)
        #expect(throws: EHRError.self) { try marker.check(expected: ArchiveFormat.markerFormat, what: "archive x") }
    }

    @Test func currentVersionAndOtherFormats() throws {
        let ok = FormatHeader(format: "ehrdata-manifest", version: 1)
        try ok.check(expected: ArchiveFormat.manifestFormat, what: "m")
        let other = FormatHeader(format: "something-else", version: 1)
        #expect(throws: EHRError.self) { try other.check(expected: ArchiveFormat.manifestFormat, what: "m") }
    }
}

@Suite struct ExitCodeTests {
    @Test func everyKindHasItsOwnCode() {
        let codes = EHRError.Kind.allCases.map(\.exitCode)
        #expect(Set(codes).count == codes.count)
        #expect(EHRError.Kind.usage.exitCode == 64)
        #expect(!codes.contains(0))
    }

    @Test func descriptionIsOneLineWithHint() {
        let e = EHRError(.notFound, "no snapshot 'x'", hint: "run 'ehrdata list'")
        #expect(e.description == "no snapshot 'x' (hint: run 'ehrdata list')")
        #expect(!e.description.contains("\n"))
    }
}

@Suite struct TimestampTests {
    @Test func iso8601IsUTCWithMilliseconds() {
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 1_795_944_607.999_4)) == "2026-11-29T09:30:07.999Z")
        // Rounded to the nearest millisecond, carried into the seconds (never ":60").
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 1_795_944_659.999_6)) == "2026-11-29T09:31:00.000Z")
        // An id's time reads back to the same millisecond it was written with.
        let id = SnapshotID("20261129T094849.482Z-5cfe")!
        #expect(Timestamp.iso8601(id.date!) == "2026-11-29T09:48:49.482Z")
    }
}
