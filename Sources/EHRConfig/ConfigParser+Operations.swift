import EHRCore
import Yams

extension ConfigParser {
    /// `log: { format: text|json }` and `on_failure: { command: [ARGV…], timeout: 30s }`.
    static func parseOperationKeys(_ top: Mapping, into configuration: inout Configuration) throws {
        let origin = top.origin
        if let node = top.optional("log") {
            let m = try Mapping(node, path: "log.", origin: origin, allowed: ["format"])
            if let formatNode = m.optional("format") {
                let format = try m.string(formatNode, "format")
                guard let value = LogFormat(rawValue: format) else {
                    throw fail(origin, formatNode.mark, "key 'log.format' is '\(format)'", hint: "use 'text' (the default) or 'json'")
                }
                configuration.operations.logFormat = value
            }
        }
        if let node = top.optional("on_failure") {
            let m = try Mapping(node, path: "on_failure.", origin: origin, allowed: ["command", "timeout"])
            let commandNode = try m.required("command")
            guard case .sequence(let items) = commandNode, !items.isEmpty else {
                throw fail(origin, commandNode.mark, "key 'on_failure.command' must be a list: the program, then its arguments",
                           hint: "write e.g. command: [/usr/local/bin/notify-oncall, ehrdata]")
            }
            var argv: [String] = []
            for item in items { argv.append(try m.string(item, "command")) }
            guard argv[0].hasPrefix("/") else {
                throw fail(origin, commandNode.mark, "key 'on_failure.command' must start with an absolute path, not '\(argv[0])'",
                           hint: "cron's PATH is short: name the program by its full path")
            }
            var hook = OnFailure(command: argv)
            if let timeoutNode = m.optional("timeout") {
                let text = try m.string(timeoutNode, "timeout")
                guard let seconds = DurationText.seconds(text), seconds > 0 else {
                    throw fail(origin, timeoutNode.mark, "key 'on_failure.timeout' is '\(text)', not a duration",
                               hint: "write a number with s, m or h, such as 30s")
                }
                hook.timeoutSeconds = seconds
            }
            configuration.operations.onFailure = hook
        }
    }
}
