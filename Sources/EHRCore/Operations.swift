/// What unattended runs need from the config: the log format and the command to run when a
/// command fails.
public struct Operations: Sendable, Equatable {
    public var logFormat: LogFormat?
    public var onFailure: OnFailure?
    public init() {}
}

public enum LogFormat: String, Sendable, Equatable, CaseIterable {
    /// Human lines on stderr.
    case text
    /// One JSON object per event on stderr: time, level, message, run, label and the metadata.
    case json
}

/// `on_failure`: run after any command that fails, with the failure in its environment
/// (EHRDATA_COMMAND, EHRDATA_EXIT_CODE, EHRDATA_ERROR, EHRDATA_RUN_ID). Its own failure or
/// timeout is logged and never changes ehrdata's exit code.
public struct OnFailure: Sendable, Equatable {
    public var command: [String]
    public var timeoutSeconds: Double = 30
    public init(command: [String]) { self.command = command }
}
