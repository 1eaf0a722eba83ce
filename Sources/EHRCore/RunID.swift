import Foundation

/// The id of this run of ehrdata: in every log line, in the manifest of the snapshot a backup
/// publishes, in the metrics and in the `on_failure` command's environment, so that one night's
/// events can be found together. `EHRDATA_RUN_ID` sets it (a wrapper running several commands
/// as one job); else 16 random hex digits.
public enum RunID {
    public static let current: String = {
        if let given = ProcessInfo.processInfo.environment["EHRDATA_RUN_ID"], !given.isEmpty, given.count <= 64,
           given.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "." }) {
            return given
        }
        var rng = SystemRandomNumberGenerator()
        return hex(rng.next() as UInt64)
    }()

    private static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
