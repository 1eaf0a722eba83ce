import EHRCore
import EHRTestSupport
import Foundation
import Testing

/// The retention rules against restic's own `forget` (Debian's restic 0.14, installed by
/// scripts/install-deps.sh): the same snapshot times, made in the same zone, under several
/// policies; both must keep exactly the same snapshots.
@Suite struct RetentionResticTests {
    static let zone = TimeZone(identifier: "Europe/Berlin")!

    /// 40 start times over about four months, deterministic: several a day, gaps of weeks, both DST
    /// changes of 2026, a year's end. Local times that occur twice (the hour DST ends) are left
    /// out: restic's `--time` cannot say which of the two it means.
    static let times: [Date] = {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var t = Timestamp.parseCompactUTC("20251201T013000")!
        var result: [Date] = []
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        while result.count < 40 {
            let gaps: [Double] = [0.3, 1.5, 5, 11, 23, 26, 50, 24 * 6, 24 * 20]
            t = t.addingTimeInterval(gaps[Int(next() % UInt64(gaps.count))] * 3600 + Double(next() % 1800))
            let wholeSeconds = t.addingTimeInterval(-t.timeIntervalSince1970.truncatingRemainder(dividingBy: 1))
            let hour = calendar.component(.hour, from: wholeSeconds)
            let ambiguous = hour == 2 && zone.isDaylightSavingTime(for: wholeSeconds.addingTimeInterval(-3600))
                != zone.isDaylightSavingTime(for: wholeSeconds.addingTimeInterval(3600))
            if !ambiguous { result.append(wholeSeconds) }
        }
        return result
    }()

    static func restic(_ arguments: [String], repository: String) throws -> ProcessResult {
        try Run.program("/usr/bin/restic", arguments, environment: [
            "RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD": "retention-test", "TZ": zone.identifier,
            "RESTIC_CACHE_DIR": repository + "-cache",
        ])
    }

    struct Policy: Sendable, CustomTestStringConvertible {
        let flags: [String]
        let rules: Retention
        var testDescription: String { flags.joined(separator: " ") }
    }

    static let policies: [Policy] = [
        Policy(flags: ["--keep-last", "3", "--keep-daily", "5", "--keep-weekly", "4", "--keep-monthly", "6", "--keep-yearly", "2"],
               rules: Retention(keepLast: 3, keepDaily: 5, keepWeekly: 4, keepMonthly: 6, keepYearly: 2)),
        Policy(flags: ["--keep-hourly", "10", "--keep-daily", "3"], rules: Retention(keepHourly: 10, keepDaily: 3)),
        Policy(flags: ["--keep-within", "14d"], rules: Retention(keepWithin: RetentionWithin("14d"))),
        Policy(flags: ["--keep-within", "36h", "--keep-weekly", "3"], rules: Retention(keepWeekly: 3, keepWithin: RetentionWithin("36h"))),
        Policy(flags: ["--keep-monthly", "12"], rules: Retention(keepMonthly: 12)),
        Policy(flags: ["--keep-weekly", "30"], rules: Retention(keepWeekly: 30)),
        Policy(flags: ["--keep-last", "1"], rules: Retention(keepLast: 1)),
    ]

    @Test func ehrdataKeepsWhatResticKeeps() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ehrdata-restic-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        try Data("x\n".utf8).write(to: URL(fileURLWithPath: dir + "/data/file"))
        let repository = dir + "/repo"
        let initialised = try Self.restic(["init", "-q"], repository: repository)
        try #require(initialised.status == 0, "restic init failed (is Debian's restic installed? scripts/install-deps.sh): \(initialised.stderr)")
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.timeZone = Self.zone
        local.dateFormat = "yyyy-MM-dd HH:mm:ss"
        for time in Self.times {
            let r = try Self.restic(["backup", "-q", "--host", "h", "--time", local.string(from: time), dir + "/data"], repository: repository)
            try #require(r.status == 0, "restic backup failed: \(r.stderr)")
        }
        let candidates = Self.times.map { RetentionCandidate(id: String(Int($0.timeIntervalSince1970)), date: $0, sources: ["backend"]) }
        let parse = ISO8601DateFormatter()
        for policy in Self.policies {
            let r = try Self.restic(["forget", "--dry-run", "--json"] + policy.flags, repository: repository)
            try #require(r.status == 0, "restic forget failed: \(r.stderr)")
            let groups = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
            let resticKept = Set((groups.first?["keep"] as? [[String: Any]] ?? []).compactMap { snapshot -> String? in
                guard let text = snapshot["time"] as? String, let date = parse.date(from: text) else { return nil }
                return String(Int(date.timeIntervalSince1970))
            })
            let ours = Set(RetentionPolicy.decide(candidates, rules: policy.rules, timeZone: Self.zone).filter(\.keep).map(\.id))
            #expect(resticKept.count > 0 && resticKept.count < Self.times.count, "policy \(policy.testDescription) decides nothing")
            #expect(ours == resticKept, "policy \(policy.testDescription): only ehrdata keeps \(ours.subtracting(resticKept).sorted()), only restic \(resticKept.subtracting(ours).sorted())")
        }
    }
}
