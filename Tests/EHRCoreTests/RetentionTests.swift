import EHRCore
import Foundation
import Testing

/// restic 0.14's `forget` rules (internal/restic/snapshot_policy.go), as tables: snapshot start
/// times (UTC) in, what is kept and why out.
@Suite struct RetentionTests {
    /// "2026-12-05 10:00" (UTC) → a candidate whose id is that text.
    static func snap(_ utc: String, sources: [String] = ["backend"], damaged: Set<String> = [], hold: String? = nil,
                     unreadable: Bool = false) -> RetentionCandidate {
        let digits = utc.filter(\.isNumber)
        let date = Timestamp.parseCompactUTC(String(digits.prefix(8)) + "T" + String(digits.dropFirst(8)) + String(repeating: "0", count: 14 - digits.count))!
        return RetentionCandidate(id: utc, date: date, sources: unreadable ? [] : sources, damagedSources: damaged,
                                  hold: hold, unreadable: unreadable)
    }

    static func kept(_ snaps: [RetentionCandidate], _ rules: Retention, zone: String = "UTC") -> [String] {
        RetentionPolicy.decide(snaps, rules: rules, timeZone: TimeZone(identifier: zone)!).filter(\.keep).map(\.id)
    }

    static func reasons(_ snaps: [RetentionCandidate], _ rules: Retention, zone: String = "UTC") -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: RetentionPolicy.decide(snaps, rules: rules, timeZone: TimeZone(identifier: zone)!).map { ($0.id, $0.reasons) })
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let times: [String]
        let rules: Retention
        let zone: String
        let kept: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "keep_last keeps the newest n", times: ["2026-12-01 02:00", "2026-12-02 02:00", "2026-12-03 02:00", "2026-12-04 02:00"],
             rules: Retention(keepLast: 2), zone: "UTC", kept: ["2026-12-04 02:00", "2026-12-03 02:00"]),
        Case(name: "a policy that keeps only the newest", times: ["2026-12-01 02:00", "2026-12-01 03:00", "2026-12-02 02:00"],
             rules: Retention(keepLast: 1), zone: "UTC", kept: ["2026-12-02 02:00"]),
        Case(name: "many snapshots in one day: keep_daily keeps each day's newest",
             times: ["2026-12-01 01:00", "2026-12-01 09:00", "2026-12-01 17:00", "2026-12-02 01:00", "2026-12-02 09:00", "2026-12-02 23:59"],
             rules: Retention(keepDaily: 5), zone: "UTC", kept: ["2026-12-02 23:59", "2026-12-01 17:00"]),
        Case(name: "keep_daily counts days that have snapshots (gaps are not counted)",
             times: ["2026-11-01 02:00", "2026-11-10 02:00", "2026-11-20 02:00", "2026-12-01 02:00"],
             rules: Retention(keepDaily: 3), zone: "UTC", kept: ["2026-12-01 02:00", "2026-11-20 02:00", "2026-11-10 02:00"]),
        Case(name: "monthly buckets with missing months", times: ["2026-01-15 02:00", "2026-04-15 02:00", "2026-04-20 02:00", "2026-07-15 02:00", "2026-10-15 02:00"],
             rules: Retention(keepMonthly: 3), zone: "UTC", kept: ["2026-10-15 02:00", "2026-07-15 02:00", "2026-04-20 02:00"]),
        Case(name: "the same times in UTC are two days", times: ["2026-12-01 23:30", "2026-12-02 00:30"],
             rules: Retention(keepDaily: 2), zone: "UTC", kept: ["2026-12-02 00:30", "2026-12-01 23:30"]),
        Case(name: "and one day in New York (UTC-5)", times: ["2026-12-01 23:30", "2026-12-02 00:30"],
             rules: Retention(keepDaily: 2), zone: "America/New_York", kept: ["2026-12-02 00:30"]),
        Case(name: "and two days in Tokyo around its midnight (UTC+9)", times: ["2026-12-01 14:30", "2026-12-01 15:30"],
             rules: Retention(keepDaily: 2), zone: "Asia/Tokyo", kept: ["2026-12-01 15:30", "2026-12-01 14:30"]),
        Case(name: "DST ends in Berlin: 02:30 CEST and 02:30 CET are one local hour", times: ["2026-10-25 00:30", "2026-10-25 01:30"],
             rules: Retention(keepHourly: 5), zone: "Europe/Berlin", kept: ["2026-10-25 01:30"]),
        Case(name: "the same two snapshots are two hours in UTC", times: ["2026-10-25 00:30", "2026-10-25 01:30"],
             rules: Retention(keepHourly: 5), zone: "UTC", kept: ["2026-10-25 01:30", "2026-10-25 00:30"]),
        Case(name: "DST starts in Berlin: the day has 23 hours, still one day",
             times: ["2026-03-28 23:30", "2026-03-29 21:30", "2026-03-29 22:30"],
             rules: Retention(keepDaily: 3), zone: "Europe/Berlin", kept: ["2026-03-29 22:30", "2026-03-29 21:30"]),
        Case(name: "ISO weeks: 2026-12-31 and 2027-01-01 are both week 53 of 2026",
             times: ["2026-12-28 02:00", "2026-12-31 02:00", "2027-01-01 02:00", "2027-01-03 02:00", "2027-01-04 02:00"],
             rules: Retention(keepWeekly: 5), zone: "UTC", kept: ["2027-01-04 02:00", "2027-01-03 02:00"]),
        Case(name: "yearly", times: ["2024-06-01 02:00", "2025-03-01 02:00", "2025-12-31 02:00", "2026-12-01 02:00"],
             rules: Retention(keepYearly: 2), zone: "UTC", kept: ["2026-12-01 02:00", "2025-12-31 02:00"]),
        Case(name: "keep_within 36h from the newest (not from now)", times: ["2026-01-01 02:00", "2026-01-03 12:00", "2026-01-03 15:00", "2026-01-05 02:00"],
             rules: Retention(keepWithin: RetentionWithin("36h")), zone: "UTC", kept: ["2026-01-05 02:00", "2026-01-03 15:00"]),
        Case(name: "keep_within's bound is exclusive", times: ["2026-01-04 02:00", "2026-01-05 02:00"],
             rules: Retention(keepWithin: RetentionWithin("24h")), zone: "UTC", kept: ["2026-01-05 02:00"]),
        Case(name: "keep_within 1d is a calendar day across DST (23 hours back on that day)",
             times: ["2026-03-28 10:30", "2026-03-29 10:00"],
             rules: Retention(keepWithin: RetentionWithin("1d")), zone: "Europe/Berlin", kept: ["2026-03-29 10:00"]),
        Case(name: "while keep_within 24h is 24 hours", times: ["2026-03-28 10:30", "2026-03-29 10:00"],
             rules: Retention(keepWithin: RetentionWithin("24h")), zone: "Europe/Berlin", kept: ["2026-03-29 10:00", "2026-03-28 10:30"]),
        Case(name: "rules combine: a snapshot kept by any rule stays",
             times: ["2026-10-31 02:00", "2026-11-30 02:00", "2026-12-01 02:00", "2026-12-01 14:00", "2026-12-02 02:00", "2026-12-03 02:00"],
             rules: Retention(keepLast: 2, keepDaily: 3, keepMonthly: 3), zone: "UTC",
             kept: ["2026-12-03 02:00", "2026-12-02 02:00", "2026-12-01 14:00", "2026-11-30 02:00", "2026-10-31 02:00"]),
    ]

    @Test(arguments: cases)
    func table(_ c: Case) {
        #expect(Self.kept(c.times.map { Self.snap($0) }, c.rules, zone: c.zone) == c.kept)
    }

    @Test func reasonsNameEveryRuleThatKeeps() {
        let snaps = ["2026-11-30 02:00", "2026-12-01 02:00", "2026-12-02 02:00"].map { Self.snap($0) }
        let r = Self.reasons(snaps, Retention(keepLast: 1, keepDaily: 2, keepWithin: RetentionWithin("1d")))
        #expect(r["2026-12-02 02:00"] == ["within 1d", "last snapshot", "daily snapshot", "newest snapshot of source backend"])
        #expect(r["2026-12-01 02:00"] == ["daily snapshot"])
        #expect(r["2026-11-30 02:00"] == [])
    }

    @Test func anEmptyPolicyKeepsEverything() {
        let snaps = ["2026-11-30 02:00", "2026-12-01 02:00"].map { Self.snap($0) }
        for rules in [Retention(), Retention(keepLast: 0, keepDaily: 0, keepWithin: RetentionWithin("0d"))] {
            #expect(RetentionPolicy.isEmpty(rules))
            let r = Self.reasons(snaps, rules)
            #expect(r.values.allSatisfy { $0.first == "policy is empty" })
        }
    }

    @Test func heldSnapshotsAreKeptAndStillCountInBuckets() {
        let snaps = [Self.snap("2026-12-01 02:00", hold: "case 7"), Self.snap("2026-12-02 02:00"), Self.snap("2026-12-03 02:00")]
        #expect(Self.kept(snaps, Retention(keepLast: 1)) == ["2026-12-03 02:00", "2026-12-01 02:00"])
        #expect(Self.reasons(snaps, Retention(keepLast: 1))["2026-12-01 02:00"] == ["held: case 7"])
        // As restic's --keep-tag: a held snapshot is not taken out of the buckets.
        let newestHeld = [Self.snap("2026-12-02 02:00"), Self.snap("2026-12-03 02:00", hold: "x")]
        #expect(Self.kept(newestHeld, Retention(keepLast: 1)) == ["2026-12-03 02:00"])
    }

    @Test func theNewestSnapshotOfEachSourceAndItsNewestGoodOneAreNeverRemoved() {
        let snaps = [
            Self.snap("2026-12-01 02:00", sources: ["backend", "fhir"]),
            Self.snap("2026-12-02 02:00", sources: ["backend", "fhir"], damaged: ["fhir"]),
            Self.snap("2026-12-03 02:00", sources: ["backend"]),
            Self.snap("2026-12-04 02:00", sources: ["backend"]),
        ]
        // keep_last applies per set of sources (as restic groups by paths).
        let r = Self.reasons(snaps, Retention(keepLast: 1))
        #expect(r["2026-12-04 02:00"] == ["last snapshot", "newest snapshot of source backend"])
        #expect(r["2026-12-03 02:00"] == [])
        #expect(r["2026-12-02 02:00"] == ["last snapshot", "newest snapshot of source fhir"])
        #expect(r["2026-12-01 02:00"] == ["newest snapshot of source fhir that passed its integrity check"])
    }

    @Test func aDamagedNewestBackupDoesNotPushTheLastGoodCopyOut() {
        let snaps = [Self.snap("2026-12-01 02:00"), Self.snap("2026-12-02 02:00", damaged: ["backend"]),
                     Self.snap("2026-12-03 02:00", damaged: ["backend"])]
        #expect(Self.kept(snaps, Retention(keepLast: 1)) == ["2026-12-03 02:00", "2026-12-01 02:00"])
    }

    @Test func unreadableSnapshotsAreKeptAndOutsideTheBuckets() {
        let snaps = [Self.snap("2026-12-01 02:00"), Self.snap("2026-12-02 02:00"), Self.snap("2026-12-03 02:00", unreadable: true)]
        let r = Self.reasons(snaps, Retention(keepLast: 1))
        #expect(r["2026-12-03 02:00"]?.first?.hasPrefix("manifest unreadable") == true)
        #expect(r["2026-12-02 02:00"] == ["last snapshot", "newest snapshot of source backend"])
        #expect(r["2026-12-01 02:00"] == [])
    }

    @Test func keepWithinParsesEhrdatasDurations() {
        #expect(RetentionWithin("14d")?.days == 14)
        #expect(RetentionWithin("36h")?.seconds == 129_600)
        #expect(RetentionWithin("90m")?.seconds == 5400)
        #expect(RetentionWithin("3600")?.seconds == 3600)
        #expect(RetentionWithin("1.5d")?.seconds == 1.5 * 86_400)
        #expect(RetentionWithin("two weeks") == nil)
        #expect(RetentionWithin("-1d") == nil)
    }
}
