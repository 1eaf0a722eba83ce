import Foundation

/// `keep_within`: a duration in ehrdata's grammar (`36h`, `14d`, `90m`, `3600`). Whole days are
/// calendar days in the retention time zone, as restic's `--keep-within 14d` goes back with
/// `AddDate` (the same wall-clock time, also across a DST change); anything else is seconds.
public struct RetentionWithin: Sendable, Equatable, CustomStringConvertible {
    public var days: Int
    public var seconds: Double
    public let text: String

    public init?(_ text: String) {
        self.text = text
        if text.hasSuffix("d"), let d = Int(text.dropLast()), d >= 0 {
            days = d
            seconds = 0
        } else if let s = DurationText.seconds(text) {
            days = 0
            seconds = s
        } else {
            return nil
        }
    }

    public var isZero: Bool { days == 0 && seconds == 0 }
    public var description: String { text }

    /// The moment this duration before `date`, days counted on `calendar`.
    func cutoff(before date: Date, calendar: Calendar) -> Date {
        let back = days == 0 ? date : (calendar.date(byAdding: .day, value: -days, to: date) ?? date.addingTimeInterval(Double(-days) * 86_400))
        return back.addingTimeInterval(-seconds)
    }
}

/// One published snapshot as retention sees it.
public struct RetentionCandidate: Sendable, Equatable {
    public var id: String
    /// Its start time (the UTC time in its id).
    public var date: Date
    /// The sources it holds (empty when its manifest cannot be read).
    public var sources: [String]
    /// Sources the backup found damaged in this snapshot (their data failed its integrity check).
    public var damagedSources: Set<String>
    /// The legal hold's reason, if the snapshot is held.
    public var hold: String?
    /// Its manifest cannot be read: it is never removed by policy (run verify).
    public var unreadable: Bool

    public init(id: String, date: Date, sources: [String], damagedSources: Set<String> = [],
                hold: String? = nil, unreadable: Bool = false) {
        self.id = id
        self.date = date
        self.sources = sources
        self.damagedSources = damagedSources
        self.hold = hold
        self.unreadable = unreadable
    }
}

/// Keep or remove, and every reason for keeping.
public struct RetentionDecision: Sendable, Equatable, Codable {
    public var id: String
    public var keep: Bool
    public var reasons: [String]
    public init(id: String, keep: Bool, reasons: [String]) {
        self.id = id
        self.keep = keep
        self.reasons = reasons
    }
}

/// The retention rules, exactly as restic 0.14's `forget` applies them (internal/restic/
/// snapshot_policy.go, ApplyPolicy), plus ehrdata's own protections. Pure: no clock, no disk.
///
/// Per group (snapshots holding the same set of sources, as restic groups by paths), newest
/// first: a snapshot started within `keep_within` of the group's newest is kept; then for each
/// rule with count left (last, hourly, daily, weekly, monthly, yearly, in that order) a snapshot
/// whose bucket differs from the last bucket that rule kept is kept, and the rule's count drops.
/// A snapshot kept by any rule stays. Buckets are the start time's hour, day, ISO week, month and
/// year in `timeZone`; keep_last's bucket is the snapshot itself.
///
/// On top of the policy, and across groups, these are always kept: a held snapshot, a snapshot
/// whose manifest cannot be read, the newest snapshot of each source, and the newest snapshot of
/// each source whose data passed its integrity check. A policy with no rule keeps everything.
public enum RetentionPolicy {
    public static func isEmpty(_ r: Retention) -> Bool {
        [r.keepLast, r.keepHourly, r.keepDaily, r.keepWeekly, r.keepMonthly, r.keepYearly].allSatisfy { ($0 ?? 0) == 0 }
            && (r.keepWithin?.isZero ?? true)
    }

    /// Decisions for `candidates`, newest first.
    public static func decide(_ candidates: [RetentionCandidate], rules: Retention, timeZone: TimeZone) -> [RetentionDecision] {
        let sorted = candidates.sorted { $0.date != $1.date ? $0.date > $1.date : $0.id > $1.id }
        var reasons: [String: [String]] = [:]
        let empty = isEmpty(rules)
        if empty {
            for c in sorted { reasons[c.id, default: []].append("policy is empty") }
        } else {
            var groups: [[String]: [RetentionCandidate]] = [:]
            var order: [[String]] = []
            for c in sorted where !c.unreadable {
                let key = c.sources.sorted()
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(c)
            }
            for key in order {
                for (id, why) in applyRules(groups[key]!, rules: rules, timeZone: timeZone) {
                    reasons[id, default: []].append(contentsOf: why)
                }
            }
        }
        // Protections, across groups.
        var newestOf: [String: String] = [:], newestGoodOf: [String: String] = [:]
        for c in sorted where !c.unreadable {
            for s in c.sources {
                if newestOf[s] == nil { newestOf[s] = c.id }
                if newestGoodOf[s] == nil, !c.damagedSources.contains(s) { newestGoodOf[s] = c.id }
            }
        }
        for c in sorted {
            var extra: [String] = []
            if let hold = c.hold { extra.append("held: \(hold)") }
            if c.unreadable { extra.append("manifest unreadable (never removed; run 'ehrdata verify')") }
            for s in c.sources.sorted() {
                if newestOf[s] == c.id { extra.append("newest snapshot of source \(s)") }
                if newestGoodOf[s] == c.id, newestOf[s] != c.id { extra.append("newest snapshot of source \(s) that passed its integrity check") }
            }
            reasons[c.id, default: []].append(contentsOf: extra)
        }
        return sorted.map { RetentionDecision(id: $0.id, keep: !(reasons[$0.id] ?? []).isEmpty, reasons: reasons[$0.id] ?? []) }
    }

    /// restic's ApplyPolicy for one group (newest first): the reasons each kept snapshot has.
    static func applyRules(_ list: [RetentionCandidate], rules: Retention, timeZone: TimeZone) -> [(String, [String])] {
        guard let latest = list.first?.date else { return [] }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        calendar.firstWeekday = 2 // ISO weeks: Monday first, week 1 holds the year's first Thursday
        calendar.minimumDaysInFirstWeek = 4
        struct Bucket { var count: Int; let key: (Date, Int) -> Int; var last: Int; let reason: String }
        func parts(_ d: Date) -> DateComponents {
            calendar.dateComponents([.year, .month, .day, .hour, .weekOfYear, .yearForWeekOfYear], from: d)
        }
        var buckets = [
            Bucket(count: rules.keepLast ?? 0, key: { _, nr in nr }, last: -1, reason: "last snapshot"),
            Bucket(count: rules.keepHourly ?? 0, key: { d, _ in let c = parts(d); return c.year! * 1_000_000 + c.month! * 10_000 + c.day! * 100 + c.hour! },
                   last: -1, reason: "hourly snapshot"),
            Bucket(count: rules.keepDaily ?? 0, key: { d, _ in let c = parts(d); return c.year! * 10_000 + c.month! * 100 + c.day! },
                   last: -1, reason: "daily snapshot"),
            Bucket(count: rules.keepWeekly ?? 0, key: { d, _ in let c = parts(d); return c.yearForWeekOfYear! * 100 + c.weekOfYear! },
                   last: -1, reason: "weekly snapshot"),
            Bucket(count: rules.keepMonthly ?? 0, key: { d, _ in let c = parts(d); return c.year! * 100 + c.month! },
                   last: -1, reason: "monthly snapshot"),
            Bucket(count: rules.keepYearly ?? 0, key: { d, _ in parts(d).year! }, last: -1, reason: "yearly snapshot"),
        ]
        let cutoff = rules.keepWithin.flatMap { $0.isZero ? nil : $0.cutoff(before: latest, calendar: calendar) }
        var result: [(String, [String])] = []
        for (nr, cur) in list.enumerated() {
            var why: [String] = []
            if let cutoff, cur.date > cutoff { why.append("within \(rules.keepWithin!.text)") }
            for i in buckets.indices where buckets[i].count > 0 {
                let value = buckets[i].key(cur.date, nr)
                if value != buckets[i].last {
                    buckets[i].last = value
                    buckets[i].count -= 1
                    why.append(buckets[i].reason)
                }
            }
            if !why.isEmpty { result.append((cur.id, why)) }
        }
        return result
    }
}
