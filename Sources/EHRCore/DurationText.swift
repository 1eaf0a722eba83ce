/// Durations as users type them: `90` or `90s`, `10m`, `2h`, `1d`.
public enum DurationText {
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let last = text.last else { return nil }
        let (number, scale) = units[last].map { (String(text.dropLast()), $0) } ?? (text, 1)
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        return value * scale
    }
}
