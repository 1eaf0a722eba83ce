import EHRCore
import Foundation
import Yams

/// Finds and reads the configuration file: `--config`, then `$EHRDATA_CONFIG`, then
/// `/etc/ehrdata/ehrdata.yaml`.
public enum ConfigLoader {
    public static let defaultPath = "/etc/ehrdata/ehrdata.yaml"
    public static let environmentVariable = "EHRDATA_CONFIG"

    /// The path to read, and how it was chosen (for messages).
    public static func locate(explicit: String?,
                              environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (path: String, how: String)
    {
        if let explicit, !explicit.isEmpty { return (explicit, "--config") }
        if let env = environment[environmentVariable], !env.isEmpty { return (env, "$\(environmentVariable)") }
        return (defaultPath, "the default location")
    }

    public static func load(explicit: String?,
                            environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> Configuration
    {
        let (path, how) = locate(explicit: explicit, environment: environment)
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw EHRError(.configuration,
                           exists ? "cannot read config file \(path) (from \(how))"
                                  : "no config file at \(path) (from \(how))",
                           hint: exists ? "check its permissions"
                                        : "run 'ehrdata init --config \(path)' or pass --config FILE")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EHRError(.configuration, "config file \(path) is not UTF-8 text",
                           hint: "save it as UTF-8")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try ConfigParser.parse(text, origin: path, baseDirectory: base)
    }
}
